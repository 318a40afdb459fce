"""The local sandbox's server is always stopped, and moto gets its own behaviour back, whatever happens."""

from __future__ import annotations

import pytest

from local_sandbox import emulation
from local_sandbox.server import is_listening, local_aws


def test_server_stops_and_the_emulation_is_removed_even_when_the_block_fails():
    from moto.cloudformation import parsing

    original = parsing.resource_class_from_type
    seen: dict[str, object] = {}

    def fail_inside_the_block() -> None:
        with local_aws() as aws:
            seen.update(endpoint=aws.endpoint_url, listening=is_listening(aws.endpoint_url))
            seen["patched"] = parsing.resource_class_from_type is not original
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_inside_the_block()
    assert seen["listening"] is True
    assert seen["patched"] is True
    assert not is_listening(str(seen["endpoint"]))
    assert parsing.resource_class_from_type is original
    assert "AWS::Glue::Job" not in parsing.get_model_map()
    assert emulation._STATE == {}


def test_cli_failure_stops_the_server_and_says_why_in_one_line(monkeypatch, tmp_path, capsys):
    import re

    from local_sandbox import __main__ as cli
    from local_sandbox import deploy

    monkeypatch.setattr(deploy, "CDK", tmp_path / "no-cdk")
    assert cli.main(["--events", "10", "--outdir", str(tmp_path / "out")]) == 1
    out, err = capsys.readouterr()
    endpoint = re.search(r"http://localhost:\d+", out)
    assert endpoint
    assert not is_listening(endpoint.group(0))
    assert err.strip().splitlines() == [
        f"local sandbox failed: {tmp_path / 'no-cdk'} not found: run `make setup` (npm ci installs the pinned CDK CLI) "
        f"(the local server at {endpoint.group(0)} is stopped)"
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["--events", "0"],
        ["--events", "many"],
        ["--unknown"],
        ["--port", "65536"],  # one above the highest TCP port
        ["--port", "-1"],
        ["--port", "http"],
        ["--label-bias", "customer_tier=diamond:1"],  # not a value of the facet
        ["--label-bias", "amount=1:1"],  # not a categorical field
    ],
)
def test_cli_rejects_bad_arguments(argv, capsys):
    from local_sandbox import __main__ as cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert "usage: python -m local_sandbox" in capsys.readouterr().err


def test_every_resource_type_of_every_variant_has_a_model_while_the_emulation_runs(sandbox, production, variant):
    """Whatever the configuration (the variant app turns on tuning, JSON delivery, SSE-S3, an e-mail subscription
    and Model Monitor), moto gets a model for each type: nothing is skipped silently."""
    from moto.cloudformation import parsing

    types = {
        resource["Type"]
        for app in (sandbox, production, variant)
        for template in app.templates.values()
        for resource in template["Resources"].values()
    }
    from moto.cloudformation.exceptions import ValidationError

    def has_model(resource_type: str) -> bool:
        try:
            return parsing.resource_class_from_type(resource_type) is not None
        except ValidationError:  # the emulation's refusal of a type nobody models
            return False

    with local_aws():
        missing = sorted(t for t in types if t not in parsing.NULL_MODELS and not has_model(t))
    assert missing == []
    assert {
        "AWS::SageMaker::MonitoringSchedule",
        "AWS::SNS::Subscription",
        "AWS::KinesisFirehose::DeliveryStream",
    } <= types


def test_a_type_nobody_models_fails_the_stack_instead_of_being_skipped():
    import json

    from botocore.exceptions import ClientError

    template = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}, "Thing": {"Type": "AWS::Foo::Bar"}}}
    with local_aws() as aws, pytest.raises(ClientError, match=r"moto has no model for AWS::Foo::Bar"):
        aws.client("cloudformation").create_stack(StackName="unknown", TemplateBody=json.dumps(template))


def test_auto_delete_responder_empties_a_versioned_bucket_so_the_stack_deletes():
    """`cdk destroy` of a sandbox: CDK's auto-delete handler, emulated, removes every version before the bucket."""
    import json

    template = {
        "Resources": {
            "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"VersioningConfiguration": {"Status": "Enabled"}}},
            "AutoDelete": {
                "Type": "Custom::S3AutoDeleteObjects",
                "Properties": {
                    "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:h",
                    "BucketName": {"Ref": "Bucket"},
                },
                "DependsOn": ["Bucket"],
            },
        }
    }
    with local_aws() as aws:
        cloudformation, s3 = aws.client("cloudformation"), aws.client("s3")
        cloudformation.create_stack(StackName="lake", TemplateBody=json.dumps(template))
        (name,) = [b["Name"] for b in s3.list_buckets()["Buckets"]]
        for body in (b"one", b"two"):  # two versions of one key
            s3.put_object(Bucket=name, Key="events/a.json", Body=body)
        cloudformation.delete_stack(StackName="lake")
        assert s3.list_buckets()["Buckets"] == []
