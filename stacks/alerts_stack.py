"""AlertsStack: the SNS topic every pipeline's alarms notify, and the account's cost budget (``budget.enabled``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from constructs import Construct

from ml_config.config import AlertSettings, BudgetSettings
from ml_constructs.alerts.budget import CostBudget
from ml_constructs.alerts.construct import AlertTopic
from ml_constructs.data_lake.construct import DataLake


class AlertsStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: AlertSettings,
        lake: DataLake,
        budget: BudgetSettings | None = None,
        tags: Mapping[str, str] = {},
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.alerts = AlertTopic(self, "Alerts", key=lake.key, email=settings.email)
        self.budget = None
        if budget is not None and budget.enabled:
            self.budget = CostBudget(
                self,
                "Budget",
                topic=self.alerts.topic,
                key=lake.key,
                monthly_limit_usd=budget.monthly_limit_usd,
                tags=tags,
            )
        cdk.CfnOutput(self, "AlertsTopicArn", value=self.alerts.topic.topic_arn)
