"""LOCAL EMULATION ONLY: evaluate a deployed CloudWatch alarm once, as CloudWatch would, and notify.

moto stores alarms and metric data but never evaluates one. ``evaluate`` reads the deployed alarm
(``DescribeAlarms``), fetches its metric with the alarm's own namespace, dimensions, period and statistic
for its evaluation periods ending at ``at``, applies the comparison, ``DatapointsToAlarm`` and
``TreatMissingData``, sets the state (``SetAlarmState``) and, on a state change, publishes CloudWatch's
alarm notification to every SNS topic of the new state's actions (``AlarmActions`` or ``OKActions``).

Not emulated: metric math alarms, percentile statistics, anomaly detection, evaluation ranges with
``EvaluateLowSampleCountPercentile``, the ``ignore`` and ``missing`` semantics beyond "keep the state".
"""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

_COMPARE = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


@dataclass(frozen=True)
class Evaluation:
    alarm: str
    previous: str
    state: str
    datapoints: list[float]
    breaching: int
    notified: list[str]


def evaluate(aws: Any, alarm_name: str, at: datetime) -> Evaluation:
    cloudwatch, sns = aws.client("cloudwatch"), aws.client("sns")
    alarm = cloudwatch.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]
    if alarm["ComparisonOperator"] not in _COMPARE or "Statistic" not in alarm:
        raise NotImplementedError(f"{alarm_name}: only static-threshold alarms on a plain statistic are emulated")
    period = int(alarm["Period"])
    periods = int(alarm["EvaluationPeriods"])
    needed = int(alarm.get("DatapointsToAlarm", periods))
    stats = cloudwatch.get_metric_statistics(
        Namespace=alarm["Namespace"],
        MetricName=alarm["MetricName"],
        Dimensions=alarm.get("Dimensions", []),
        StartTime=at - timedelta(seconds=period * periods),
        EndTime=at + timedelta(seconds=1),
        Period=period,
        Statistics=[alarm["Statistic"]],
    )
    values = [float(p[alarm["Statistic"]]) for p in sorted(stats["Datapoints"], key=lambda p: p["Timestamp"])]
    compare = _COMPARE[alarm["ComparisonOperator"]]
    breaching = sum(1 for v in values if compare(v, float(alarm["Threshold"])))
    missing = periods - len(values)
    if alarm.get("TreatMissingData", "missing") == "breaching":
        breaching += missing
    previous = alarm["StateValue"]
    if breaching >= needed:
        state = "ALARM"
    elif values or alarm.get("TreatMissingData") in ("notBreaching", "breaching"):
        state = "OK"
    else:
        state = previous if alarm.get("TreatMissingData") == "ignore" else "INSUFFICIENT_DATA"
    reason = (
        f"Threshold Crossed: {breaching} of the last {periods} datapoint(s) {values} "
        f"{alarm['ComparisonOperator']} {alarm['Threshold']} (local sandbox evaluation)"
    )
    notified: list[str] = []
    if state != previous:
        cloudwatch.set_alarm_state(AlarmName=alarm_name, StateValue=state, StateReason=reason)
        actions = {"ALARM": alarm.get("AlarmActions", []), "OK": alarm.get("OKActions", [])}.get(state, [])
        message = {
            "AlarmName": alarm_name,
            "AlarmDescription": alarm.get("AlarmDescription"),
            "NewStateValue": state,
            "OldStateValue": previous,
            "NewStateReason": reason,
            "StateChangeTime": at.isoformat(),
            "Trigger": {
                "MetricName": alarm["MetricName"],
                "Namespace": alarm["Namespace"],
                "Statistic": alarm["Statistic"],
                "Period": period,
                "EvaluationPeriods": periods,
                "ComparisonOperator": alarm["ComparisonOperator"],
                "Threshold": alarm["Threshold"],
                "Dimensions": [{"name": d["Name"], "value": d["Value"]} for d in alarm.get("Dimensions", [])],
            },
        }
        for topic in actions:
            if ":sns:" in topic:
                sns.publish(TopicArn=topic, Subject=f'{state}: "{alarm_name}"'[:100], Message=json.dumps(message))
                notified.append(topic)
    return Evaluation(alarm_name, previous, state, values, breaching, notified)
