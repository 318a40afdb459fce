"""StreamingStack: Kinesis Data Streams -> Firehose -> the raw zone, with the raw table and alarms."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from ml_config.config import AppConfig, CatalogEncryption, Encryption
from ml_constructs.common import log_retention
from ml_constructs.data_lake.construct import DataLake
from ml_constructs.streaming.construct import Encryption as StreamEncryption
from ml_constructs.streaming.construct import StreamingIngest
from stacks.alerts_stack import AlertsStack
from stacks.mapping import removal_policy


class StreamingStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        lake: DataLake,
        alerts: AlertsStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.ingest = StreamingIngest(
            self,
            "Ingest",
            stream_settings=config.stream,
            firehose_settings=config.firehose,
            alert_settings=config.alerts,
            raw_bucket=lake.raw,
            database=lake.database,
            encryption=StreamEncryption(
                key=lake.key,
                s3_kms=config.lake.encryption is Encryption.KMS,
                catalog_kms=config.catalog.encryption is CatalogEncryption.LAKE_KEY,
            ),
            alerts=alerts.alerts.topic,
            log_retention=log_retention(config.logs.retention_days),
            removal_policy=removal_policy(config.lake.removal_policy),
        )
        # The Firehose L2 always adds a mapping of its service CIDR blocks, used only by Redshift and Splunk
        # destinations. Unused with S3 (cfn-lint W7001, CloudFormation's validator too): remove it. If a
        # later CDK version referenced it, cfn-lint's E-level check on Fn::FindInMap would fail the tests.
        self.node.try_remove_child("@aws-cdk--aws-kinesisfirehose.CidrBlocks")
        # What the producer and the runbook need (plain outputs, no exports).
        cdk.CfnOutput(self, "StreamName", value=self.ingest.stream.stream_name)
        cdk.CfnOutput(self, "StreamArn", value=self.ingest.stream.stream_arn)
        cdk.CfnOutput(self, "DeliveryStreamName", value=self.ingest.delivery_stream.delivery_stream_name)
        cdk.CfnOutput(self, "RawEventsTable", value=self.ingest.table.table_name)
