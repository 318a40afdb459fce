"""How the endpoint moves to a new model: SageMaker deployment guardrails (blue/green with traffic shifting) and
automatic rollback on the endpoint's alarms.

One policy, two readers: the endpoint's ``DeploymentConfig`` in the template (CloudFormation updates) and the
training workflow's ``UpdateEndpoint`` call. Bounds are the SageMaker API reference's (checked 2026-12):
``TrafficRoutingConfig.WaitIntervalInSeconds`` 0-3600, ``BlueGreenUpdatePolicy.TerminationWaitInSeconds`` 0-3600
and ``MaximumExecutionTimeoutInSeconds`` 600-28800 (larger than the waits together); canary at most 50 % of the
fleet and linear steps of 10-50 % (deployment guardrails, developer guide). Canary and linear shift traffic between
instances, so they need at least two; one instance can only go all at once, and the baking period
(``TerminationWaitInSeconds``: the old fleet kept while the alarms watch the new one) is then the guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MODES = ("auto", "canary", "linear", "all_at_once")
WAIT_RANGE = (0, 3600)
BAKING_RANGE = (0, 3600)
TIMEOUT_RANGE = (600, 28800)
CANARY_RANGE = (1, 50)
LINEAR_RANGE = (10, 50)


@dataclass(frozen=True)
class Rollout:
    """``mode``: ``auto`` (canary with two or more instances, else all at once), ``canary``, ``linear`` or
    ``all_at_once``. ``canary_percent`` / ``linear_step_percent`` of the new fleet take traffic first / per
    step, ``wait_seconds`` between shifts; ``baking_seconds`` the old fleet stays after the shift;
    ``max_seconds`` bounds the whole deployment."""

    mode: str = "auto"
    canary_percent: int = 50
    linear_step_percent: int = 50
    wait_seconds: int = 300
    baking_seconds: int = 600
    max_seconds: int = 3600

    def check(self, instance_count: int) -> str:
        """The mode this policy resolves to for ``instance_count`` instances; ``ValueError`` (one line) if not valid."""
        _within("mode", self.mode, MODES)
        for name, value, (low, high) in (
            ("canary_percent", self.canary_percent, CANARY_RANGE),
            ("linear_step_percent", self.linear_step_percent, LINEAR_RANGE),
            ("wait_seconds", self.wait_seconds, WAIT_RANGE),
            ("baking_seconds", self.baking_seconds, BAKING_RANGE),
            ("max_seconds", self.max_seconds, TIMEOUT_RANGE),
        ):
            if not low <= value <= high:
                raise ValueError(f"rollout {name}={value}: {low} to {high} (SageMaker API reference)")
        if self.max_seconds <= self.wait_seconds + self.baking_seconds:
            raise ValueError(
                f"rollout max_seconds={self.max_seconds}: must exceed wait_seconds + baking_seconds "
                f"({self.wait_seconds + self.baking_seconds})"
            )
        mode = self.mode if self.mode != "auto" else ("canary" if instance_count >= 2 else "all_at_once")
        if mode in ("canary", "linear") and instance_count < 2:
            raise ValueError(
                f"rollout mode={mode} with instance_count={instance_count}: traffic shifting needs at least 2 "
                "instances; use all_at_once (or auto)"
            )
        return mode


def _within(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"rollout {name}={value!r}: one of {', '.join(allowed)}")


def deployment_config(rollout: Rollout, instance_count: int, alarm_names: list[str]) -> dict[str, Any]:
    """The ``DeploymentConfig`` of UpdateEndpoint (API JSON): blue/green by ``rollout``, rolled back when any of
    ``alarm_names`` goes into ALARM during the deployment or the baking period."""
    mode = rollout.check(instance_count)
    routing: dict[str, Any] = {"Type": mode.upper(), "WaitIntervalInSeconds": rollout.wait_seconds}
    if mode == "canary":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": rollout.canary_percent}
    elif mode == "linear":
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": rollout.linear_step_percent}
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": rollout.baking_seconds,
            "MaximumExecutionTimeoutInSeconds": rollout.max_seconds,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in alarm_names]},
    }


#: The construct's default: canary with two or more instances, all at once with baking on one.
DEFAULT_ROLLOUT = Rollout()
