"""Deployable units. ``build_app`` composes them from the validated config: app.py and the tests both call it,
so what the tests check is exactly what `cdk synth` produces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import jsii
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks
from constructs import IConstruct

from ml_config.config import AppConfig
from ml_constructs.serving.construct import VARIANT
from ml_constructs.training.construct import EndpointTarget
from stacks.alerts_stack import AlertsStack
from stacks.data_lake_stack import DataLakeStack
from stacks.glue_etl_stack import GlueEtlStack
from stacks.mapping import removal_policy
from stacks.mapping import tags as app_tags
from stacks.network_stack import NetworkStack
from stacks.regions import apply_region_support
from stacks.serving_stack import ServingStack
from stacks.streaming_stack import StreamingStack
from stacks.training_stack import TrainingStack


@dataclass(frozen=True)
class Stacks:
    data_lake: DataLakeStack
    network: NetworkStack
    alerts: AlertsStack
    streaming: StreamingStack
    glue_etl: GlueEtlStack
    training: TrainingStack
    serving: ServingStack

    def all(self) -> list[cdk.Stack]:
        return [self.data_lake, self.network, self.alerts, self.streaming, self.glue_etl, self.training, self.serving]


# CDK's own custom-resource providers (auto-delete objects, restrict default security group) are plain
# CfnResources that Tags.of() does not reach; their role and function are taggable in CloudFormation.
_PROVIDER_TYPES = {"AWS::IAM::Role", "AWS::Lambda::Function"}


@jsii.implements(cdk.IAspect)
class _TagProviders:
    def __init__(self, tags: dict[str, str]) -> None:
        self._tags = [{"Key": key, "Value": value} for key, value in tags.items()]

    def visit(self, node: IConstruct) -> None:
        if (
            isinstance(node, cdk.CfnResource)
            and not cdk.TagManager.is_taggable(node)
            and node.cfn_resource_type in _PROVIDER_TYPES
        ):
            node.add_property_override("Tags", self._tags)


#: Each stack's description (shown by CloudFormation), by the suffix of its name.
DESCRIPTIONS = {
    "data-lake": "ML specialty reference: S3 data lake (zones, SSE-KMS, lifecycle) and its KMS key",
    "network": "ML specialty reference: isolated VPC with an S3 gateway endpoint for the SageMaker jobs",
    "alerts": "ML specialty reference: the KMS-encrypted SNS topic every alarm notifies, and the cost budget",
    "streaming": "ML specialty reference: Kinesis Data Streams -> Firehose -> raw zone, raw table, alarms",
    "glue-etl": "ML specialty reference: Glue crawlers, the ETL job (raw -> curated), Athena, data quality",
    "serving": "ML specialty reference: real-time endpoint with data capture and autoscaling",
    "training": "ML specialty reference: Step Functions training workflow (ETL, XGBoost, gate, registry)",
}


#: The cdk-nag packs that run inside the app: AWS Solutions, and the NIST 800-53 rev 5, HIPAA Security and PCI DSS
#: 3.2.1 conformance packs (each finding acknowledged per resource with a reason; ml_constructs/nag.py).
NAG_PACKS = (AwsSolutionsChecks, NIST80053R5Checks, HIPAASecurityChecks, PCIDSS321Checks)


def build_app(
    app: cdk.App,
    config: AppConfig,
    *,
    env: cdk.Environment | None = None,
    regions: bool = True,
    nag_packs: Sequence[type] = NAG_PACKS,
) -> Stacks:
    """Add every stack of the reference architecture to ``app``, with the cdk-nag packs (``NAG_PACKS``) on and the
    project's tags on every resource that takes tags (the leftovers check finds resources by them).

    ``regions``: check a pinned region against the region table (``ConfigError`` if a stack cannot run there)
    or give each environment-agnostic stack the rule that stops a deploy where it cannot run (stacks/regions.py);
    off only for ``tools.regions``, which builds the app to regenerate that table. ``nag_packs``: the cdk-nag
    packs to run (``NAG_PACKS``; bench/bench_nag.py compares synth times with fewer)."""
    cdk.Validations.of(app).add_plugins(*(pack(app) for pack in nag_packs))
    tags = app_tags(config)
    for key, value in tags.items():
        cdk.Tags.of(app).add(key, value)
    cdk.Aspects.of(app).add(_TagProviders(tags))

    def named(suffix: str) -> dict[str, Any]:
        return {
            "scope": app,
            "construct_id": f"{config.prefix}-{suffix}",
            "env": env,
            "description": DESCRIPTIONS[suffix],
        }

    data_lake = DataLakeStack(**named("data-lake"), settings=config.lake, prefix=config.prefix)
    lake = data_lake.lake
    network = NetworkStack(
        **named("network"),
        settings=config.network,
        log_settings=config.logs,
        lake=lake,
        removal_policy=removal_policy(config.lake.removal_policy),
    )
    alerts = AlertsStack(**named("alerts"), settings=config.alerts, lake=lake, budget=config.budget, tags=tags)
    streaming = StreamingStack(**named("streaming"), config=config, lake=lake, alerts=alerts.alerts.topic)
    glue_etl = GlueEtlStack(**named("glue-etl"), config=config, lake=lake)
    # the raw crawler adds partitions to the raw table the streaming stack owns
    glue_etl.add_stack_dependency(streaming)
    serving = ServingStack(**named("serving"), config=config, lake=lake, network=network, alerts=alerts)
    training = TrainingStack(
        **named("training"),
        config=config,
        lake=lake,
        network=network,
        etl=glue_etl.etl,
        alerts=alerts,
        endpoint=_endpoint_target(serving, config),  # the workflow's last step rolls the endpoint
    )
    built = Stacks(data_lake, network, alerts, streaming, glue_etl, training, serving)
    if regions:
        apply_region_support(built.all())
    return built


def _endpoint_target(serving: ServingStack, config: AppConfig) -> EndpointTarget:
    """The serving stack's endpoint as the training workflow rolls it to a new model."""
    return EndpointTarget(
        name=serving.endpoint.endpoint.attr_endpoint_name,
        variant=VARIANT,
        instance_type=config.serving.instance_type,
        instance_count=config.serving.instance_count,
        capture_uri=serving.endpoint.capture_uri,
        capture_percentage=config.serving.capture_percentage,
        alarm_names=tuple(serving.endpoint.alarm_names.values()),
        rollout=serving.endpoint.rollout,
        champion_auc_margin=config.serving.champion_auc_margin,
        model_role=serving.endpoint.role,
        config_arn=serving.endpoint.endpoint_config.ref,
    )
