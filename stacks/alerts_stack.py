"""AlertsStack: the SNS topic every pipeline's alarms notify."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from ml_config.config import AlertSettings
from ml_constructs.alerts.construct import AlertTopic
from ml_constructs.data_lake.construct import DataLake


class AlertsStack(cdk.Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: AlertSettings, lake: DataLake, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.alerts = AlertTopic(self, "Alerts", key=lake.key, email=settings.email)
        cdk.CfnOutput(self, "AlertsTopicArn", value=self.alerts.topic.topic_arn)
