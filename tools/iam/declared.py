"""The declared calls: what AWS services (and the CDK-provided custom resources) do on a role's behalf, which
no local run can observe. One row per kind of call, each citing the AWS documentation page it comes from
(checked 2026-12); each row derives its principals and resources from the resolved templates, so a renamed
bucket or a new alarm changes the calls, not this table.

A row with ``applies_when`` may yield no call in a given variant (the condition says when it does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from tools.iam import rows_ingest as ingest
from tools.iam import rows_ml as ml
from tools.iam import rows_ops as ops
from tools.iam import rows_orchestration as orchestration
from tools.iam.calls import Call
from tools.iam.deployment import Deployment
from tools.iam.derive import Emitter

CHECKED = "2026-12"

_FIREHOSE = "https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html"
_GLUE_ROLE = "https://docs.aws.amazon.com/glue/latest/dg/create-an-iam-role.html"
_GLUE_CRAWLER = "https://docs.aws.amazon.com/glue/latest/dg/crawler-prereqs.html"
_GLUE_ENCRYPTION = "https://docs.aws.amazon.com/glue/latest/dg/encryption-security-configuration.html"
_SAGEMAKER_ROLES = "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html"
_SFN_SAGEMAKER = "https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html"


@dataclass(frozen=True)
class Row:
    id: str
    what: str
    doc: str
    derive: Callable[[Deployment, Emitter], Iterable[Call]]
    applies_when: str = ""

    def calls(self, deployment: Deployment) -> Iterator[Call]:
        yield from self.derive(deployment, Emitter(deployment, self.id))


DECLARED: tuple[Row, ...] = (
    # Amazon Data Firehose
    Row(
        "firehose-source",
        "the delivery stream's source role reads its Kinesis stream",
        _FIREHOSE,
        ingest.firehose_source,
    ),
    Row(
        "firehose-source-key",
        "the source role decrypts the SSE-KMS stream through Kinesis",
        "https://docs.aws.amazon.com/firehose/latest/dev/encryption.html",
        ingest.firehose_source_key,
    ),
    Row(
        "firehose-s3",
        "the destination role lists the bucket and writes (and retries) objects under the prefixes",
        _FIREHOSE,
        ingest.firehose_s3,
    ),
    Row(
        "firehose-s3-key",
        "the destination role encrypts the objects with the SSE-KMS key through S3",
        _FIREHOSE,
        ingest.firehose_s3_key,
    ),
    Row(
        "firehose-schema",
        "record format conversion reads the Glue table's schema (catalog, database, table)",
        _FIREHOSE,
        ingest.firehose_schema,
    ),
    Row("firehose-logs", "the destination role puts error logs into its log stream", _FIREHOSE, ingest.firehose_logs),
    # AWS Glue
    Row("glue-job-code", "the job role reads the script and the extra Python files", _GLUE_ROLE, ingest.glue_job_code),
    Row(
        "glue-job-data",
        "the job reads the raw zone and rebuilds the curated prefix (its argument contract), SSE-KMS on write",
        _GLUE_ROLE,
        ingest.glue_job_data,
    ),
    Row(
        "glue-job-logs",
        "the job writes driver logs (its security configuration's groups) and continuous logs",
        _GLUE_ENCRYPTION,
        ingest.glue_job_logs,
    ),
    Row(
        "glue-job-metrics",
        "job metrics (--enable-metrics, observability metrics) in the Glue namespace",
        "https://docs.aws.amazon.com/glue/latest/dg/monitoring-awsglue-with-cloudwatch-metrics.html",
        ingest.glue_job_metrics,
    ),
    Row(
        "glue-crawler-s3",
        "a crawler lists and reads its S3 targets (decrypting SSE-KMS objects)",
        _GLUE_CRAWLER,
        ingest.glue_crawler_s3,
    ),
    Row(
        "glue-crawler-catalog",
        "a crawler reads and writes its tables and partitions (as its schema change policy allows)",
        "https://docs.aws.amazon.com/glue/latest/dg/glue-specifying-resource-arns.html",
        ingest.glue_crawler_catalog,
    ),
    Row(
        "glue-crawler-logs",
        "a crawler writes its logs (its security configuration's group)",
        _GLUE_ENCRYPTION,
        ingest.glue_crawler_logs,
    ),
    Row(
        "glue-catalog-key",
        "readers and writers of an encrypted Data Catalog use its key through Glue",
        "https://docs.aws.amazon.com/glue/latest/dg/encrypt-glue-data-catalog.html",
        ingest.catalog_key,
    ),
    # Amazon SageMaker AI
    Row(
        "sagemaker-s3-read",
        "jobs and endpoints read inputs, model data, baselines and capture (in the VPC: through its S3 endpoint)",
        _SAGEMAKER_ROLES,
        ml.sagemaker_s3_reads,
    ),
    Row(
        "sagemaker-processing-prefix-list",
        "a processing job's S3Prefix input: SageMaker lists the keys under its URI (one object's key included)",
        "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProcessingS3Input.html",
        ml.sagemaker_s3_prefix_lists,
    ),
    Row(
        "sagemaker-s3-write",
        "jobs and endpoints write model artifacts, predictions, capture and reports, SSE-KMS",
        _SAGEMAKER_ROLES,
        ml.sagemaker_s3_writes,
    ),
    Row(
        "sagemaker-volume-key",
        "jobs encrypt their ML storage volumes: a grant on the volume key",
        _SAGEMAKER_ROLES,
        ml.sagemaker_volume_key,
    ),
    Row(
        "sagemaker-output-key",
        "a training or transform job whose output names a KMS key: 'the SageMaker execution role must include "
        "permissions to call kms:Encrypt'",
        "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_OutputDataConfig.html",
        ml.sagemaker_output_key,
    ),
    Row(
        "sagemaker-network",
        "jobs and endpoints in the VPC create and delete their network interfaces",
        "https://docs.aws.amazon.com/sagemaker/latest/dg/train-vpc.html",
        ml.sagemaker_network,
    ),
    Row(
        "sagemaker-logs",
        "jobs and endpoints write their logs (/aws/sagemaker/...)",
        _SAGEMAKER_ROLES,
        ml.sagemaker_logs,
    ),
    Row(
        "sagemaker-metrics",
        "jobs and endpoints publish metrics (Model Monitor: data-metrics namespace)",
        _SAGEMAKER_ROLES,
        ml.sagemaker_metrics,
    ),
    Row(
        "sagemaker-image-pull",
        "jobs and endpoints pull their container image from a repository of this account",
        _SAGEMAKER_ROLES,
        ml.sagemaker_image_pull,
        applies_when="an image in an ECR repository of the deploying account (built-in algorithm images are not)",
    ),
    # AWS Step Functions
    Row(
        "sfn-sync-jobs",
        "Run a Job (.sync): start, describe, stop the Glue or SageMaker job (SageMaker: and list its tags); pass the "
        "SageMaker job its role",
        _SFN_SAGEMAKER,
        orchestration.sfn_sync_jobs,
    ),
    Row(
        "sfn-sync-rules",
        "SageMaker .sync: the EventBridge rule Step Functions manages per job type",
        _SFN_SAGEMAKER,
        orchestration.sfn_sync_rules,
    ),
    Row(
        "sfn-task-calls",
        "request-response Task states: invoke Lambda, publish to SNS, call SageMaker (and pass the model its role)",
        "https://docs.aws.amazon.com/step-functions/latest/dg/service-integration-iam-templates.html",
        orchestration.sfn_task_calls,
    ),
    Row(
        "sfn-s3-copy",
        "S3 CopyObject through the AWS SDK integration: read the source object, write the copy (SSE-KMS both ways)",
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html",
        orchestration.sfn_s3_copies,
    ),
    Row(
        "sfn-s3-get",
        "S3 GetObject through the AWS SDK integration: the ETL's hyperparameters for the training job (SSE-KMS)",
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html",
        orchestration.sfn_s3_reads,
    ),
    Row(
        "sagemaker-tag-on-create",
        "a SageMaker Create call with Tags (jobs, models, endpoint configs, model packages) also needs AddTags",
        "https://docs.aws.amazon.com/sagemaker/latest/dg/security_iam_id-based-policy-examples.html"
        "#grant-tagging-permissions",
        orchestration.sagemaker_tag_on_create,
        applies_when="the workflow tags what a run creates (tags given)",
    ),
    Row(
        "sfn-topic-key",
        "publishing to an SSE-KMS topic uses the topic's key through SNS",
        "https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html",
        orchestration.sfn_encrypted_topics,
    ),
    Row(
        "sfn-endpoint-key",
        "UpdateEndpoint to a config with a KMS key: the caller lets SageMaker create the volume grant",
        "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html",
        orchestration.sfn_endpoint_key,
    ),
    Row(
        "sfn-logging",
        "a state machine logging to CloudWatch Logs manages its log delivery",
        "https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html",
        orchestration.sfn_logging,
    ),
    Row(
        "sfn-tracing",
        "a state machine with X-Ray tracing sends segments and reads sampling rules",
        "https://docs.aws.amazon.com/step-functions/latest/dg/concepts-xray-tracing.html",
        orchestration.sfn_tracing,
    ),
    # Amazon CloudWatch alarms, Amazon EventBridge
    Row(
        "alarm-publish",
        "an alarm's SNS actions: CloudWatch publishes to the topic (the topic policy must allow it)",
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html",
        orchestration.alarm_publish,
    ),
    Row(
        "alarm-topic-key",
        "an alarm publishing to an SSE-KMS topic: CloudWatch uses the topic's key (the key policy must allow it)",
        "https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html",
        orchestration.alarm_topic_key,
    ),
    Row(
        "events-lambda",
        "an EventBridge rule invokes its Lambda target (the function's resource policy must allow it)",
        "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html",
        orchestration.events_invoke_lambda,
    ),
    Row(
        "events-target-role",
        "an EventBridge rule or schedule uses its target's role (Step Functions: StartExecution)",
        "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-identity-based.html",
        orchestration.events_target_role,
        applies_when="a rule or schedule target with a role (training.schedule set)",
    ),
    # AWS Lambda
    Row(
        "lambda-logs",
        "a function's runtime writes its logs to its log group",
        "https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html",
        orchestration.lambda_logs,
    ),
    Row(
        "lambda-dead-letters",
        "Lambda sends an asynchronous event that failed every attempt to the function's dead-letter queue, as the "
        "function's execution role",
        "https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html",
        ops.lambda_dead_letters,
    ),
    Row(
        "events-dead-letters",
        "EventBridge sends an event it could not deliver to a rule's target to that target's dead-letter queue, as "
        "the service (queue policy)",
        "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html",
        ops.events_dead_letters,
        applies_when="a rule target with a dead-letter queue (training.schedule set)",
    ),
    Row(
        "budgets-publish",
        "AWS Budgets publishes a budget's notification to its SNS topic (topic policy, and the key policy when "
        "the topic is encrypted)",
        "https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-sns-policy.html",
        ops.budgets_publish,
        applies_when="budget.enabled",
    ),
    Row(
        "idle-guard",
        "the idle-endpoint guard (our handler) describes the endpoint, reads its Invocations, deletes it (SageMaker "
        "deregisters its scalable target with the caller's permission) and notifies the encrypted alerts topic",
        "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeleteEndpoint.html",
        ops.idle_guard,
        applies_when="serving.idle_hours set",
    ),
    Row(
        "lambda-tracing",
        "active tracing: Lambda sends trace segments with the function's role",
        "https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html",
        orchestration.lambda_tracing,
    ),
    # Amazon S3 server access logging, VPC flow logs
    Row(
        "s3-access-logs",
        "S3 server access logging writes to the log bucket (its bucket policy must allow logging.s3)",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html",
        ingest.s3_access_logs,
    ),
    Row(
        "vpc-flow-logs",
        "flow logs deliver to an existing log group: describe, create and put to its streams",
        "https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html",
        ingest.flow_logs,
    ),
    # Amazon CloudWatch Logs
    Row(
        "logs-group-key",
        "CloudWatch Logs encrypts a KMS-encrypted log group's events (the key policy must allow the logs service)",
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html",
        ingest.logs_group_key,
    ),
    # CDK custom resources (their Lambda handlers run at deploy and destroy time)
    Row(
        "cdk-bucket-deployment",
        "BucketDeployment copies the asset into the destination prefix (SSE-KMS; deletes only with prune)",
        "https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_s3_deployment-readme.html",
        orchestration.cdk_bucket_deployment,
    ),
    Row(
        "cdk-auto-delete-objects",
        "autoDeleteObjects empties a bucket on stack deletion (allowed by the bucket policy)",
        "https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_s3.Bucket.html",
        orchestration.cdk_auto_delete_objects,
    ),
    Row(
        "cdk-restrict-default-sg",
        "restrictDefaultSecurityGroup removes (and on delete restores) the default group's rules",
        "https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_ec2.Vpc.html",
        orchestration.cdk_restrict_default_sg,
    ),
    # Every service assuming the role a resource gives it
    Row(
        "assume-role",
        "the service assumes the role a resource names (the role's trust policy must allow it)",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html",
        orchestration.assume_role,
    ),
)


def declared_calls(deployment: Deployment, rows: Iterable[Row] = DECLARED) -> list[Call]:
    return [call for row in rows for call in row.calls(deployment)]
