"""DriftMonitor: the endpoint's drift job, a Lambda function an EventBridge schedule runs every window, the
alarm on the violations it counts, and the job's own failure alarms.

Every ``window_hours`` the job reads the capture files of the last window, compares them with the baseline of the
model the endpoint serves (Model Monitor's ``statistics.json`` and ``constraints.json``, found next to the model's
preprocessing artifact: endpoint -> endpoint config -> model), writes ``constraint_violations.json`` and
``statistics.json`` under ``monitoring/`` and puts per-feature drift metrics; the ``ViolationCount`` alarm notifies
the alerts topic. It works in any account (Amazon SageMaker Model Monitor is closed to new customers).

A crash must not read as "no drift": an event that fails every attempt lands in a dead-letter queue (alarmed),
any error alarms, and a heartbeat alarms when two windows pass without a successful run (``failures.py``). The
violations alarm treats missing data as missing: a window without a report leaves it in INSUFFICIENT_DATA, never
OK.

The caller controls the endpoint, the window, the drift threshold, the metric namespace and the log retention.
Fixed: the code (``runtime/``, shipped whole), the lake prefixes it reads and writes, the KMS key used only
through S3, and a role limited to those prefixes and that namespace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fnmatch import fnmatch
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_constructs.assets import python_function
from ml_constructs.common import encrypted_log_group, key_through, notify
from ml_constructs.failures import dead_letter_alarm, dead_letter_queue, errors_alarm, heartbeat_alarm
from ml_constructs.lake_layout import BASELINE_FOLDER, BASELINE_PREFIX, CAPTURE_PREFIX, MODELS_PREFIX, REPORTS_PREFIX
from ml_constructs.nag import WildcardLedger, acknowledge_function_outside_vpc

#: The drift job's code asset: the whole folder (handler ``drift_job.handler``, standard library and boto3 only) and
#: the shared bias metrics (``ml_constructs/assets.py``).
RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
#: The drift job accepts windows of 1 to 168 hours (a week).
MAX_WINDOW_HOURS = 168
#: A metric-math alarm takes at most 10 metrics (CloudWatch user guide, "Alarming on metric math expressions").
MAX_ALARM_METRICS = 10


class DriftMonitor(Construct):
    """The drift job of ``endpoint_name`` (ARN ``endpoint_arn``, for looking the serving model up): every
    ``window_hours`` it compares the window's captured requests under ``capture_prefix`` with the baseline under
    ``baseline_prefix`` of ``artifacts``; a feature drifts when its distance exceeds ``distance_threshold`` (None:
    the baseline constraints' own threshold). Metrics go to ``namespace`` (default ``<stack name>/drift``). With
    ``baseline_of_serving_model`` (the default) the job judges the window against the baseline next to the serving
    model (``models/<model>/baseline/``), and the one under ``baseline_prefix`` only when the serving model is not an
    inference pipeline. ``reserved_concurrency``: reserve that many concurrent runs (None: none; an account whose
    concurrency quota is below 110, as new accounts' often is, cannot reserve any). ``bias_facets`` (raw field ->
    its values, at most 10): the job also puts the live DPPL of each value (``BiasDPPL``, scores at or above
    ``decision_threshold`` are positive predictions), and one alarm per facet fires when any value's |DPPL|
    exceeds ``bias_alarm_threshold``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        artifacts: s3.IBucket,
        key: kms.IKey,
        alerts: sns.ITopic,
        endpoint_arn: str | None = None,
        window_hours: int = 1,
        distance_threshold: float | None = 0.1,
        namespace: str | None = None,
        capture_prefix: str = CAPTURE_PREFIX,
        baseline_prefix: str = BASELINE_PREFIX,
        baseline_of_serving_model: bool = True,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY,
        reserved_concurrency: int | None = None,
        bias_facets: Mapping[str, Sequence[str]] = {},
        decision_threshold: float = 0.5,
        bias_alarm_threshold: float = 0.2,
    ) -> None:
        super().__init__(scope, construct_id)
        if not 1 <= window_hours <= MAX_WINDOW_HOURS:
            raise ValueError(f"window_hours={window_hours}: the drift job reads 1 to {MAX_WINDOW_HOURS} hours")
        namespace = namespace or f"{cdk.Stack.of(self).stack_name}/drift"
        ledger = WildcardLedger()
        log_group = encrypted_log_group(self, "Logs", key=key, retention=log_retention, removal_policy=removal_policy)
        role = self._role(
            artifacts, key, capture_prefix, baseline_prefix, namespace, log_group, ledger, baseline_of_serving_model
        )
        if baseline_of_serving_model:
            self._grant_serving_model(role, artifacts, endpoint_arn, endpoint_name, ledger)
        self.dead_letters = dead_letter_queue(self, "DeadLetters", removal_policy=removal_policy)
        self.function = self._job_function(role, log_group, reserved_concurrency)
        bucket = f"s3://{artifacts.bucket_name}"
        #: What the schedule sends the job: the contract in ``runtime/drift_job``'s ``handler``.
        self.event = {
            "capture_s3_uri": f"{bucket}/{capture_prefix}",
            "endpoint_name": endpoint_name,
            "window_hours": window_hours,
            "baseline_statistics_s3_uri": f"{bucket}/{baseline_prefix}statistics.json",
            "baseline_constraints_s3_uri": f"{bucket}/{baseline_prefix}constraints.json",
            "output_s3_uri": f"{bucket}/{REPORTS_PREFIX}",
            "cloudwatch_namespace": namespace,
            "distance_threshold": distance_threshold,
            "baseline_of_serving_model": baseline_of_serving_model,
        }
        if bias_facets:  # live DPPL per facet value, from the captured requests and responses
            self.event["bias"] = {"facets": list(bias_facets), "threshold": decision_threshold}
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="Runs the drift job over the last window of captured traffic",
            schedule=events.Schedule.rate(cdk.Duration.hours(window_hours)),
            targets=[
                targets.LambdaFunction(
                    self.function, event=events.RuleTargetInput.from_object(self.event), retry_attempts=2
                )
            ],
        )
        self.alarm = self._violations_alarm(endpoint_name, namespace, window_hours, alerts)
        self.bias_alarms = {
            facet: self._bias_alarm(endpoint_name, namespace, window_hours, alerts, facet, values, bias_alarm_threshold)
            for facet, values in bias_facets.items()
        }
        what, window = "Drift job", cdk.Duration.hours(window_hours)
        self.failure_alarms = {
            "DeadLetters": dead_letter_alarm(self, self.dead_letters, alerts, what),
            "Errors": errors_alarm(self, self.function, alerts, what),
            "Heartbeat": heartbeat_alarm(self, self.function, alerts, window, what),
        }
        self._acknowledge(ledger, reserved=reserved_concurrency is not None)

    def _job_function(self, role: iam.Role, log_group: logs.ILogGroup, reserved: int | None) -> lambda_.Function:
        """The job: ``runtime/`` and the shared bias metrics (``python_function``), 15 minutes, its dead letters."""
        return python_function(
            self,
            "Job",
            RUNTIME_DIR,
            description="Drift and live bias of the captured endpoint traffic against the training baseline",
            handler="drift_job.handler",
            timeout=cdk.Duration.minutes(15),
            memory_size=1024,
            role=role,
            log_group=log_group,
            dead_letter_queue=self.dead_letters,
            reserved_concurrent_executions=reserved,
        )

    def _acknowledge(self, ledger: WildcardLedger, *, reserved: bool) -> None:
        """The wildcards of the job's role, and the conformance packs' findings, one resource at a time."""
        ledger.acknowledge(
            "Objects under the capture/, monitoring/ and models/<model>/baseline/ prefixes of the artifacts bucket "
            "(SageMaker names capture files by time; models are named per training run), read-only Describe calls "
            "on the endpoint configs and models the endpoint may serve (named per run), and '*' only for "
            "CloudWatch PutMetricData (namespace condition) and X-Ray."
        )
        acknowledge_function_outside_vpc(
            self.function,
            reserved=reserved,
            why_outside="The job reaches no resource inside the VPC: it calls S3, CloudWatch PutMetricData and X-Ray, "
            "and the isolated subnets have no NAT and no interface endpoints (hourly-billed), so inside them it could "
            "not put its metrics.",
        )

    def _role(
        self,
        artifacts: s3.IBucket,
        key: kms.IKey,
        capture_prefix: str,
        baseline_prefix: str,
        namespace: str,
        log_group: logs.ILogGroup,
        ledger: WildcardLedger,
        covered_by_model_baselines: bool,
    ) -> iam.Role:
        """Read the capture and the baseline, write the reports, put metrics in ``namespace``, write its logs."""
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Drift job: read capture/ and the serving model's baseline, write monitoring/, put metrics",
        )
        reads = [artifacts.arn_for_objects(f"{capture_prefix}*")]
        if not (covered_by_model_baselines and fnmatch(baseline_prefix, f"{MODELS_PREFIX}*/{BASELINE_FOLDER}")):
            reads.append(artifacts.arn_for_objects(f"{baseline_prefix}*"))  # else ReadModelBaselines covers it
        writes = artifacts.arn_for_objects(f"{REPORTS_PREFIX}*")
        for statement in (
            iam.PolicyStatement(sid="ReadCaptureAndBaseline", actions=["s3:GetObject"], resources=reads),
            iam.PolicyStatement(
                sid="ListCapture",
                actions=["s3:ListBucket"],
                resources=[artifacts.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{capture_prefix}*"]}},
            ),
            iam.PolicyStatement(sid="WriteReports", actions=["s3:PutObject"], resources=[writes]),
            key_through(self, key, ["kms:Decrypt", "kms:GenerateDataKey"], "s3", sid="LakeKeyThroughS3"),
            iam.PolicyStatement(
                sid="DriftMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],  # no resource type; the namespace condition scopes it
                conditions={"StringEquals": {"cloudwatch:namespace": namespace}},
            ),
            iam.PolicyStatement(
                sid="OwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            ),
        ):
            role.add_to_policy(statement)
        ledger.track(role, *reads, writes, "*")  # '*': PutMetricData here, and X-Ray's calls the tracing adds
        return role

    def _grant_serving_model(
        self,
        role: iam.Role,
        artifacts: s3.IBucket,
        endpoint_arn: str | None,
        endpoint_name: str,
        ledger: WildcardLedger,
    ) -> None:
        """Look the serving model up (DescribeEndpoint on this endpoint; DescribeEndpointConfig and DescribeModel on
        whichever config and model it serves: the stack's first, then each run's) and read its baseline."""
        stack = cdk.Stack.of(self)
        arn = lambda kind, name: stack.format_arn(service="sagemaker", resource=kind, resource_name=name)  # noqa: E731
        baselines = artifacts.arn_for_objects(f"{MODELS_PREFIX}*/{BASELINE_FOLDER}*")
        for statement in (
            iam.PolicyStatement(
                sid="ServingEndpoint",
                actions=["sagemaker:DescribeEndpoint"],
                # SageMaker lower-cases the name in its ARNs: the endpoint's own ARN (its Ref) when the caller has it
                resources=[endpoint_arn or arn("endpoint", endpoint_name)],
            ),
            iam.PolicyStatement(
                sid="ServingModel",
                actions=["sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"],
                resources=[arn("endpoint-config", "*"), arn("model", "*")],
            ),
            iam.PolicyStatement(sid="ReadModelBaselines", actions=["s3:GetObject"], resources=[baselines]),
        ):
            role.add_to_policy(statement)
        ledger.track(role, arn("endpoint-config", "*"), arn("model", "*"), baselines)

    def _violations_alarm(
        self, endpoint_name: str, namespace: str, window_hours: int, alerts: sns.ITopic
    ) -> cloudwatch.Alarm:
        """Any violation in a window (the job's ``ViolationCount``) alarms; the alerts topic hears both ways. No data
        (no traffic in the window, or a job that did not finish) is missing, not "no violation": the alarm keeps
        its state and goes to INSUFFICIENT_DATA, while the heartbeat alarm says why."""
        alarm = cloudwatch.Alarm(
            self,
            "ViolationsAlarm",
            metric=cloudwatch.Metric(
                namespace=namespace,
                metric_name="ViolationCount",
                dimensions_map={"Endpoint": endpoint_name},
                statistic="Maximum",
                period=cdk.Duration.hours(window_hours),
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.MISSING,
            alarm_description="The captured traffic violates the training baseline's constraints (drift, "
            "missing values or type changes): see the constraint_violations.json of the window",
        )
        notify(alarm, alerts).add_ok_action(actions.SnsAction(alerts))
        return alarm

    def _bias_alarm(
        self,
        endpoint_name: str,
        namespace: str,
        window_hours: int,
        alerts: sns.ITopic,
        facet: str,
        values: Sequence[str],
        threshold: float,
    ) -> cloudwatch.Alarm:
        """The largest |DPPL| among ``facet``'s values in a window above ``threshold`` alarms (metric math over one
        ``BiasDPPL`` metric per value, at most 10 in an alarm). A value without traffic has no datum: missing data is
        not breaching (no traffic is no evidence of bias; the heartbeat alarm covers a job that did not run)."""
        if not 1 <= len(values) <= MAX_ALARM_METRICS:
            raise ValueError(f"bias facet {facet!r} has {len(values)} values: an alarm takes 1 to {MAX_ALARM_METRICS}")
        metrics = {
            f"v{i}": cloudwatch.Metric(
                namespace=namespace,
                metric_name="BiasDPPL",
                dimensions_map={"Endpoint": endpoint_name, "Facet": facet, "Value": value},
                statistic="Average",
                period=cdk.Duration.hours(window_hours),
            )
            for i, value in enumerate(values)
        }
        expression = "MAX([" + ", ".join(f"ABS({name})" for name in metrics) + "])"
        alarm = cloudwatch.MathExpression(
            expression=expression,
            using_metrics=metrics,
            label=f"max |DPPL| of {facet}",
            period=cdk.Duration.hours(window_hours),
        ).create_alarm(
            self,
            f"BiasAlarm{''.join(part.capitalize() for part in facet.split('_'))}",
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"Live bias: a value of {facet} gets positive predictions at a rate that differs from "
            f"the rest of {facet} by more than {threshold:g} (|DPPL|); see the drift job's response (bias)",
        )
        return notify(alarm, alerts)
