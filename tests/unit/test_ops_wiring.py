"""The app wires the failure alarms, the idle-endpoint guard and the budget to the one alerts topic: every new
alarm, rule and budget notifies the topic the alerts stack exports, the guard watches the serving stack's endpoint,
and the profiles turn the guardrails on (sandbox) and off (production)."""

from __future__ import annotations

from typing import Any

from tests.conftest import resources


def alerts_topic(synth: Any) -> dict[str, Any]:
    """How the other stacks refer to the alerts topic: the alerts stack's published output of its Ref."""
    template = synth.template(synth.stacks.alerts)
    (topic,) = resources(template, "AWS::SNS::Topic")
    output = next(k for k, v in template["Outputs"].items() if v["Value"] == {"Ref": topic} and k.startswith("Publish"))
    return {
        "Fn::GetStackOutput": {
            "StackName": synth.stacks.alerts.stack_name,
            "Region": {"Ref": "AWS::Region"},
            "OutputName": output,
        }
    }


def alarms(template: dict[str, Any], prefix: str) -> dict[str, dict[str, Any]]:
    return {
        k: v["Properties"] for k, v in resources(template, "AWS::CloudWatch::Alarm").items() if k.startswith(prefix)
    }


def test_every_failure_alarm_notifies_the_alerts_topic(sandbox):
    topic = alerts_topic(sandbox)
    serving, training = sandbox.template(sandbox.stacks.serving), sandbox.template(sandbox.stacks.training)
    expected = {
        "training": ["TrainingExecutionsAborted", "TrainingExecutionsFailed", "TrainingExecutionsTimedOut"],
        "drift": ["DriftDeadLetter", "DriftErrors", "DriftHeartbeat"],
        "guard": ["IdleGuardDeadLetter", "IdleGuardErrors", "IdleGuardHeartbeat"],
    }
    found = {
        "training": alarms(training, "TrainingExecutions"),
        "drift": {k: v for k, v in alarms(serving, "Drift").items() if "Violations" not in k and "Bias" not in k},
        "guard": alarms(serving, "IdleGuard"),
    }
    for name, group in found.items():
        assert sorted(k.split("Alarm")[0] for k in group) == expected[name]
        for alarm in group.values():
            assert alarm["AlarmActions"] == [topic]


def test_the_bias_alarms_one_per_configured_facet_notify_the_alerts_topic(sandbox):
    serving = sandbox.template(sandbox.stacks.serving)
    bias = alarms(serving, "DriftBiasAlarm")
    facets = sandbox.config.bias.facet_list()  # customer_tier, channel
    assert sorted(k.split("Alarm")[1][: len("Channel")] for k in bias) == sorted(
        "".join(p.capitalize() for p in f.split("_"))[: len("Channel")] for f in facets
    )
    for alarm in bias.values():
        assert alarm["AlarmActions"] == [alerts_topic(sandbox)]
        assert alarm["Threshold"] == sandbox.config.bias.alarm_max_abs_dppl


def test_the_guard_watches_the_serving_endpoint_for_the_configured_hours(sandbox):
    serving = sandbox.template(sandbox.stacks.serving)
    (endpoint,) = resources(serving, "AWS::SageMaker::Endpoint")
    rule = next(v for k, v in resources(serving, "AWS::Events::Rule").items() if k.startswith("IdleGuard"))
    parts = rule["Properties"]["Targets"][0]["Input"]["Fn::Join"][1]
    assert {"Fn::GetAtt": [endpoint, "EndpointName"]} in parts
    assert alerts_topic(sandbox) in parts
    assert '"idle_hours":8' in "".join(p for p in parts if isinstance(p, str))  # serving.idle_hours, sandbox default
    policy = next(v for k, v in resources(serving, "AWS::IAM::Policy").items() if k.startswith("IdleGuardRole"))
    statement = next(s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s.get("Sid") == "TheEndpoint")
    assert statement["Resource"] == {"Ref": endpoint}  # the endpoint's ARN, nothing wider


def test_the_sandbox_budget_notifies_the_alerts_topic(sandbox):
    template = sandbox.template(sandbox.stacks.alerts)
    (topic,) = resources(template, "AWS::SNS::Topic")
    (budget,) = resources(template, "AWS::Budgets::Budget").values()
    assert budget["Properties"]["Budget"]["BudgetLimit"] == {"Amount": 50, "Unit": "USD"}  # budget.monthly_limit_usd
    subscribers = [s for n in budget["Properties"]["NotificationsWithSubscribers"] for s in n["Subscribers"]]
    assert subscribers == [{"Address": {"Ref": topic}, "SubscriptionType": "SNS"}] * 3
    assert {t["Key"] for t in budget["Properties"]["ResourceTags"]} == {"Project", "Profile"}


def test_production_has_no_budget_no_guard_and_reserves_concurrency(production):
    assert resources(production.template(production.stacks.alerts), "AWS::Budgets::Budget") == {}
    serving = production.template(production.stacks.serving)
    assert not any(k.startswith("IdleGuard") for k in serving["Resources"])
    (drift,) = [v for k, v in resources(serving, "AWS::Lambda::Function").items() if k.startswith("DriftJob")]
    assert drift["Properties"]["ReservedConcurrentExecutions"] == 1


def test_the_sandbox_reserves_no_concurrency(sandbox):
    """A fresh account's concurrency quota (10) leaves nothing to reserve: a reservation would fail the deploy."""
    serving = sandbox.template(sandbox.stacks.serving)
    functions = {k: v["Properties"] for k, v in resources(serving, "AWS::Lambda::Function").items()}
    assert not any("ReservedConcurrentExecutions" in f for f in functions.values())
    scheduled = [f for k, f in functions.items() if k.startswith(("DriftJob", "IdleGuard"))]
    assert len(scheduled) == 2
    assert all("DeadLetterConfig" in f for f in scheduled)
