"""Where the stacks can run: the generated region table equals what cfn-lint's data gives, a pinned region that
cannot run a stack is one config line, and each environment-agnostic template carries the rule that stops a deploy
to exactly the regions that cannot run it.

The expected values are derived independently of stacks/regions.py: cfn-lint's per-region resource types
(``PROVIDER_SCHEMA_MANAGER.get_resource_types``), the types of the synthesized templates, and the image tables.
"""

from __future__ import annotations

import json

import pytest
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

import app as app_module
from ml_config import ConfigError
from sagemaker_images import IMAGE_TABLES, MODEL_MONITOR_REPOSITORY, XGBOOST_REPOSITORY
from stacks import region_table
from stacks.regions import RULE_ID, Needs, check_pinned_region, working_regions
from tests.conftest import ROOT
from tools import regions as tool


def template_types(template: dict) -> set[str]:
    return {r["Type"] for r in template["Resources"].values() if not r["Type"].startswith("Custom::")}


def images_in(template: dict) -> set[str]:
    """The image tables a template resolves from: the repositories its image URIs name."""
    text = json.dumps(template)
    return {name for name in IMAGE_TABLES if f"/{name}" in text}


def expected_unsupported(template: dict) -> set[str]:
    """Regions of cfn-lint's data lacking a type of the template, or an account in an image table it uses."""
    return {
        region
        for region in tool.regions()
        if template_types(template) - set(PROVIDER_SCHEMA_MANAGER.get_resource_types(region))
        or any(region not in IMAGE_TABLES[name] for name in images_in(template))
    }


def rule_regions(template: dict) -> set[str]:
    """The regions the template's region rule refuses (none when it has no rule)."""
    rule = template.get("Rules", {}).get(RULE_ID)
    if rule is None:
        return set()
    (assertion,) = rule["Assertions"]
    regions, region_ref = assertion["Assert"]["Fn::Not"][0]["Fn::Contains"]
    assert region_ref == {"Ref": "AWS::Region"}
    return set(regions)


_NEEDS: dict[int, list[Needs]] = {}


def needs_of(synth) -> list[Needs]:
    """Each stack's needs, read once per synthesized app (each read walks the construct tree through jsii)."""
    return _NEEDS.setdefault(id(synth), [Needs.of(stack) for stack in synth.stacks.all()])


def test_the_generated_table_is_what_the_tool_writes_from_cfn_lint():
    text = tool.render(region_table.UNAVAILABLE)
    assert tool.MODULE.read_text() == text, "stacks/region_table.py is stale: run python -m tools.regions --write"


def test_the_table_knows_every_type_of_every_synthesized_app(sandbox, production, variant):
    used = {t for s in (sandbox, production, variant) for tpl in s.templates.values() for t in template_types(tpl)}
    assert used - set(region_table.UNAVAILABLE) == set()
    # the facts the table exists for (checked against cfn-lint's data in the test above)
    assert "me-central-1" in region_table.UNAVAILABLE["AWS::SageMaker::Endpoint"]
    assert "ap-southeast-4" in region_table.UNAVAILABLE["AWS::SageMaker::ModelPackageGroup"]


@pytest.mark.parametrize("fixture", ["sandbox", "variant"])
def test_each_agnostic_template_refuses_exactly_the_regions_that_cannot_run_it(request, fixture):
    synth = request.getfixturevalue(fixture)
    refused = {name: rule_regions(tpl) for name, tpl in synth.templates.items()}
    assert refused == {name: expected_unsupported(tpl) for name, tpl in synth.templates.items()}
    serving, training = synth.stacks.serving.stack_name, synth.stacks.training.stack_name
    assert {"me-central-1", "ap-southeast-5", "mx-central-1"} <= refused[serving]  # a type, then images
    assert {"ap-south-2", "ap-east-2", "ap-southeast-7"} <= refused[training]
    assert refused[synth.stacks.data_lake.stack_name] == set()  # no rule where every region works


def test_model_monitor_adds_its_types_and_image_to_the_refused_regions(sandbox, variant):
    # af-south-1 has a Model Monitor image but no AWS::SageMaker::MonitoringSchedule (a type); ca-west-1 lacks both
    added = rule_regions(variant.template(variant.stacks.serving)) - rule_regions(
        sandbox.template(sandbox.stacks.serving)
    )
    assert "af-south-1" in added
    assert "ca-west-1" in added
    assert "ca-west-1" not in IMAGE_TABLES[MODEL_MONITOR_REPOSITORY]


@pytest.mark.parametrize(
    ("fixture", "region", "fragments"),
    [
        ("sandbox", "me-central-1", ["mlspec-serving needs AWS::SageMaker::Endpoint, AWS::SageMaker::EndpointConfig"]),
        ("sandbox", "ap-southeast-4", ["mlspec-training needs AWS::SageMaker::ModelPackageGroup;"]),
        (
            "sandbox",
            "mx-central-1",
            ["training needs the sagemaker-scikit-learn image, the sagemaker-xgboost image;", "alerts needs AWS::Budg"],
        ),
        ("sandbox", "xx-east-9", [f"the {XGBOOST_REPOSITORY} image"]),  # a region no table knows
        ("variant", "ca-west-1", ["needs AWS::SageMaker::DataQualityJobDefinition, AWS::SageMaker::MonitoringSch"]),
    ],
)
def test_a_pinned_region_that_cannot_run_a_stack_is_one_config_line(request, fixture, region, fragments):
    needs = needs_of(request.getfixturevalue(fixture))
    with pytest.raises(ConfigError) as raised:
        check_pinned_region(needs, region)
    (line,) = raised.value.problems
    assert line.startswith(f"invalid config: region={region!r}: ")
    assert all(fragment in line for fragment in fragments), line
    works = line.split("; regions that work: ")[1].split(", ")
    # the regions offered are those whose rule admits every stack (derived from the templates, not the table)
    synth = request.getfixturevalue(fixture)
    refused = set().union(*(rule_regions(tpl) for tpl in synth.templates.values()))
    assert works == [r for r in tool.regions() if r not in refused]


def test_a_pinned_region_that_works_passes(sandbox):
    check_pinned_region(needs_of(sandbox), "eu-west-1")


def test_app_exits_2_with_one_line_for_a_pinned_region_that_cannot_run_a_stack(capsys):
    assert app_module.main(["-c", "region=me-central-1", "-c", "account=123456789012"]) == app_module.USAGE_EXIT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("invalid config: region='me-central-1': mlspec-alerts needs AWS::Budgets::Budget; ")
    assert "; mlspec-serving needs AWS::SageMaker::Endpoint" in err[0]


def test_the_readme_states_the_table_as_the_code_derives_it(sandbox, variant):
    readme = (ROOT / "README.md").read_text()
    assert f"The whole app runs in {len(working_regions(needs_of(sandbox)))} regions" in readme
    monitored = Needs.of(variant.stacks.serving).unsupported_regions()
    assert f"`monitoring.engine=model_monitor` | {len(monitored)} regions" in readme
