"""Every resource that CloudFormation lets us tag carries the project's tags (the leftovers check of the
runbook finds resources by them). Which types take tags is read from cfn-lint's copy of the CloudFormation
resource schemas, not from a hand-written list."""

from __future__ import annotations

import json

import pytest
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER


def taggable(resource_type: str) -> bool:
    if resource_type.startswith("Custom::"):
        return False
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema
    return "Tags" in schema.get("properties", {})


def tags_of(resource: dict) -> dict[str, str]:
    tags = resource.get("Properties", {}).get("Tags", {})
    if isinstance(tags, dict):  # e.g. AWS::Glue::Job, AWS::SageMaker::* use a map in some types
        return {str(k): str(v) for k, v in tags.items()}
    return {t.get("Key", t.get("TagKey")): t.get("Value", t.get("TagValue")) for t in tags}


@pytest.mark.parametrize("profile", ["sandbox", "production"])
def test_every_taggable_resource_carries_the_project_tags(request, profile):
    synth = request.getfixturevalue(profile)
    checked: set[str] = set()
    untagged = []
    for stack in synth.stacks.all():
        for logical_id, resource in synth.template(stack)["Resources"].items():
            if not taggable(resource["Type"]):
                continue
            checked.add(resource["Type"])
            tags = tags_of(resource)
            if tags.get("Project") != synth.config.prefix or tags.get("Profile") != profile:
                untagged.append(f"{stack.stack_name}/{logical_id} ({resource['Type']}): {json.dumps(tags)}")
    assert untagged == []
    # the check saw the app, including the resources that bill
    assert {"AWS::S3::Bucket", "AWS::KMS::Key", "AWS::Kinesis::Stream", "AWS::StepFunctions::StateMachine"} <= checked


def test_sandbox_destroy_retains_only_the_model_registry(sandbox):
    """`cdk destroy` of a sandbox deletes everything, except the model package group (SageMaker refuses to delete a
    group that holds versions; docs/training.md). A retained resource with a fixed name would also block the next
    deploy ("already exists"), as Glue's security configuration and ruleset did before they got the policy."""
    retained = {
        f"{stack.stack_name}/{logical_id}": resource["Type"]
        for stack in sandbox.stacks.all()
        for logical_id, resource in sandbox.template(stack)["Resources"].items()
        if resource.get("DeletionPolicy") == "Retain" or resource.get("UpdateReplacePolicy") == "Retain"
    }
    assert list(retained.values()) == ["AWS::SageMaker::ModelPackageGroup"], retained
