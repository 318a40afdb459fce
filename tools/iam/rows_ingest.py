"""Declared calls of the ingestion side: Firehose, Glue jobs and crawlers, the Data Catalog key, S3 server
access logging and VPC flow logs. Each function derives one row's calls from the resolved templates."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from tools.iam.calls import Call
from tools.iam.deployment import Deployment, Resource
from tools.iam.derive import Emitter, bucket_key, key_arn, object_under, split_s3

#: Sample values for Firehose's dynamic prefix expressions (https://docs.aws.amazon.com/firehose/latest/dev/s3-prefixes.html).
_PREFIX_SAMPLES = {
    "partitionKeyFromQuery": "2026-12-01",
    "partitionKeyFromLambda": "2026-12-01",
    "timestamp": "2026-12-01",
    "firehose:error-output-type": "format-conversion-failed",
    "firehose:random-string": "a1b2c3",
}
_EXPRESSION = re.compile(r"!\{([^}:]+(?::[^}:]+)?)(?::[^}]*)?\}")


def _render_prefix(prefix: str) -> str:
    def sample(match: re.Match[str]) -> str:
        name = match.group(1)
        return _PREFIX_SAMPLES.get(name, _PREFIX_SAMPLES.get(name.split(":")[0], "x"))

    return _EXPRESSION.sub(sample, prefix)


def _role_arn(d: Deployment, reference: Any) -> str:
    role = d.role(str(reference))
    return role.arn if role else str(reference)


def _delivery_streams(d: Deployment) -> Iterator[tuple[Resource, dict[str, Any]]]:
    for res in d.resources("AWS::KinesisFirehose::DeliveryStream"):
        destination = res.props.get("ExtendedS3DestinationConfiguration") or res.props.get("S3DestinationConfiguration")
        if destination:
            yield res, destination


# --- Firehose ---------------------------------------------------------------------------------------------


def firehose_source(d: Deployment, e: Emitter) -> Iterator[Call]:
    for res in d.resources("AWS::KinesisFirehose::DeliveryStream"):
        source = res.props.get("KinesisStreamSourceConfiguration")
        if not source:
            continue
        actions = ["kinesis:DescribeStream", "kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:ListShards"]
        yield from e.call(source["RoleARN"], actions, source["KinesisStreamARN"], f"delivery stream {res.label}")


def firehose_source_key(d: Deployment, e: Emitter) -> Iterator[Call]:
    for res in d.resources("AWS::KinesisFirehose::DeliveryStream"):
        source = res.props.get("KinesisStreamSourceConfiguration")
        stream = d.find("AWS::Kinesis::Stream", "Arn", source["KinesisStreamARN"]) if source else None
        encryption = stream.props.get("StreamEncryption", {}) if stream else {}
        if not source or encryption.get("EncryptionType") != "KMS":
            continue
        key_id = str(encryption.get("KeyId"))
        key = d.aws_managed_key("kinesis") if key_id == "alias/aws/kinesis" else key_arn(d, key_id)
        context = {
            "kms:ViaService": d.env.endpoint("kinesis"),
            "kms:EncryptionContext:aws:kinesis:arn": source["KinesisStreamARN"],
        }
        yield from e.call(source["RoleARN"], "kms:Decrypt", str(key), f"delivery stream {res.label}", context)


def firehose_s3(d: Deployment, e: Emitter) -> Iterator[Call]:
    for res, dest in _delivery_streams(d):
        role, bucket = dest["RoleARN"], str(dest["BucketARN"]).rsplit(":", 1)[-1]
        why = f"delivery stream {res.label}"
        bucket_arn = d.env.s3(bucket)
        yield from e.call(
            role, ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"], bucket_arn, why
        )
        for prefix in (dest.get("Prefix", ""), dest.get("ErrorOutputPrefix", "")):
            key = _render_prefix(prefix) + "delivery-1-2026-12-01-00-00-00-0a1b2c3d"
            actions = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"]
            yield from e.call(role, actions, d.env.s3(bucket, key), why)


def firehose_s3_key(d: Deployment, e: Emitter) -> Iterator[Call]:
    for res, dest in _delivery_streams(d):
        role, bucket = dest["RoleARN"], str(dest["BucketARN"]).rsplit(":", 1)[-1]
        configured = dest.get("EncryptionConfiguration", {}).get("KMSEncryptionConfig", {}).get("AWSKMSKeyARN")
        key = key_arn(d, configured) or bucket_key(d, bucket)
        if not key:
            continue
        prefix = _render_prefix(dest.get("Prefix", ""))
        context = {
            "kms:ViaService": d.env.endpoint("s3"),
            "kms:EncryptionContext:aws:s3:arn": d.env.s3(bucket, prefix + "delivery-1-2026-12-01-00-00-00-0a1b2c3d"),
        }
        yield from e.call(role, ["kms:GenerateDataKey", "kms:Decrypt"], key, f"delivery stream {res.label}", context)


def firehose_schema(d: Deployment, e: Emitter) -> Iterator[Call]:
    for res, dest in _delivery_streams(d):
        conversion = dest.get("DataFormatConversionConfiguration", {})
        schema = conversion.get("SchemaConfiguration") if conversion.get("Enabled", True) else None
        if not schema:
            continue
        database, table = schema["DatabaseName"], schema["TableName"]
        env = d.env
        resources = [env.glue("catalog"), env.glue(f"database/{database}"), env.glue(f"table/{database}/{table}")]
        actions = ["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"]
        for resource in resources:
            yield from e.call(schema["RoleARN"], actions, resource, f"delivery stream {res.label} (format conversion)")


def firehose_logs(d: Deployment, e: Emitter) -> Iterator[Call]:
    for res, dest in _delivery_streams(d):
        options = dest.get("CloudWatchLoggingOptions", {})
        if not options.get("Enabled"):
            continue
        target = d.env.log_stream(options["LogGroupName"], options["LogStreamName"])
        yield from e.call(dest["RoleARN"], "logs:PutLogEvents", target, f"delivery stream {res.label}")


# --- Glue jobs and crawlers ---------------------------------------------------------------------------------


def _security_configuration(d: Deployment, name: Any) -> dict[str, Any]:
    found = d.find("AWS::Glue::SecurityConfiguration", "Ref", name) if name else None
    return found.props.get("EncryptionConfiguration", {}) if found else {}


def _jobs(d: Deployment) -> Iterator[tuple[Resource, str, dict[str, Any]]]:
    for res in d.resources("AWS::Glue::Job"):
        yield res, _role_arn(d, res.props["Role"]), res.props.get("DefaultArguments", {})


def glue_job_code(d: Deployment, e: Emitter) -> Iterator[Call]:
    for res, role, arguments in _jobs(d):
        uris = [res.props["Command"]["ScriptLocation"]]
        for option in ("--extra-py-files", "--extra-files", "--extra-jars"):
            uris += [u for u in str(arguments.get(option, "")).split(",") if u]
        for uri in uris:
            bucket, key = split_s3(uri)
            yield from e.call(role, "s3:GetObject", d.env.s3(bucket, key), f"Glue job {res.label}")


#: The ETL job's argument contract (ml_constructs/glue_etl/runtime/glue_entry.py): it reads the first, and rebuilds
#: everything under the second on each run (Spark's overwrite mode lists, deletes and writes).
GLUE_JOB_INPUTS = ("--raw_path",)
GLUE_JOB_OUTPUTS = ("--curated_path",)


def glue_job_data(d: Deployment, e: Emitter) -> Iterator[Call]:
    for res, role, arguments in _jobs(d):
        why = f"Glue job {res.label}"
        s3_kms = _security_configuration(d, res.props.get("SecurityConfiguration")).get("S3Encryptions", [{}])[0]
        write_key = key_arn(d, s3_kms.get("KmsKeyArn")) if s3_kms.get("S3EncryptionMode") == "SSE-KMS" else None
        for option in GLUE_JOB_INPUTS:
            if option in arguments:
                yield from e.s3_read(role, arguments[option], why)
        for option in GLUE_JOB_OUTPUTS:
            if option in arguments:
                bucket, prefix = split_s3(arguments[option])
                yield from e.s3_read(role, arguments[option], why)
                yield from e.call(role, "s3:DeleteObject", d.env.s3(bucket, object_under(prefix, "old-part")), why)
                yield from e.s3_write(role, arguments[option], why, kms=write_key)


def _glue_log_groups(d: Deployment, kind: str, role: str, security: Any) -> list[str]:
    """The log groups Glue writes a job's or crawler's logs to; a security configuration that encrypts
    CloudWatch logs gives the run its own groups (https://docs.aws.amazon.com/glue/latest/dg/encryption-security-configuration.html)."""
    encrypted = _security_configuration(d, security).get("CloudWatchEncryption", {})
    role_name = role.rsplit("/", 1)[-1]
    if encrypted.get("CloudWatchEncryptionMode") == "SSE-KMS":
        if kind == "crawlers":
            return [f"/aws-glue/crawlers-role/{role_name}-{security}"]
        return [
            f"/aws-glue/jobs/{security}-role/{role_name}/output",
            f"/aws-glue/jobs/{security}-role/{role_name}/error",
        ]
    return ["/aws-glue/crawlers"] if kind == "crawlers" else ["/aws-glue/jobs/output", "/aws-glue/jobs/error"]


def glue_job_logs(d: Deployment, e: Emitter) -> Iterator[Call]:
    for res, role, arguments in _jobs(d):
        why = f"Glue job {res.label}"
        security = res.props.get("SecurityConfiguration")
        encrypted = security and _security_configuration(d, security).get("CloudWatchEncryption")
        for group in _glue_log_groups(d, "jobs", role, security):
            yield from e.logs(role, group, "jr_0a1b2c3d", why, create_group=True)
            if encrypted:
                yield from e.call(role, "logs:AssociateKmsKey", d.env.log_stream(group, ""), why)
        continuous = arguments.get("--continuous-log-logGroup")
        if arguments.get("--enable-continuous-cloudwatch-log") == "true" and continuous:
            yield from e.logs(role, continuous, "jr_0a1b2c3d-driver", f"{why} (continuous logging)")


def glue_job_metrics(d: Deployment, e: Emitter) -> Iterator[Call]:
    for res, role, arguments in _jobs(d):
        if "--enable-metrics" in arguments or arguments.get("--enable-observability-metrics") == "true":
            context = {"cloudwatch:namespace": "Glue"}
            yield from e.call(role, "cloudwatch:PutMetricData", "*", f"Glue job {res.label}", context)


def _crawler_tables(res: Resource) -> Iterator[tuple[str, str]]:
    """``(S3 target path, table name)``: a crawler names a table after its folder, with the table prefix."""
    for target in res.props.get("Targets", {}).get("S3Targets", []):
        folder = split_s3(target["Path"])[1].rstrip("/").rsplit("/", 1)[-1]
        yield target["Path"], f"{res.props.get('TablePrefix', '')}{folder}"


def glue_crawler_s3(d: Deployment, e: Emitter) -> Iterator[Call]:
    for res in d.resources("AWS::Glue::Crawler"):
        for path, _ in _crawler_tables(res):
            yield from e.s3_read(_role_arn(d, res.props["Role"]), path, f"crawler {res.label}")


def glue_crawler_catalog(d: Deployment, e: Emitter) -> Iterator[Call]:
    env = d.env
    for res in d.resources("AWS::Glue::Crawler"):
        role, database, why = _role_arn(d, res.props["Role"]), res.props["DatabaseName"], f"crawler {res.label}"
        policy = res.props.get("SchemaChangePolicy", {})
        table_actions = ["glue:GetTable", "glue:CreateTable", "glue:BatchGetPartition", "glue:BatchCreatePartition"]
        if policy.get("UpdateBehavior", "UPDATE_IN_DATABASE") == "UPDATE_IN_DATABASE":
            table_actions += ["glue:UpdateTable", "glue:BatchUpdatePartition"]
        if policy.get("DeleteBehavior", "DEPRECATE_IN_DATABASE") == "DEPRECATE_IN_DATABASE":
            table_actions += ["glue:UpdateTable"]
        for resource in (env.glue("catalog"), env.glue(f"database/{database}")):
            yield from e.call(role, "glue:GetDatabase", resource, why)
        for _, table in _crawler_tables(res):
            for resource in (
                env.glue("catalog"),
                env.glue(f"database/{database}"),
                env.glue(f"table/{database}/{table}"),
            ):
                yield from e.call(role, sorted(set(table_actions)), resource, why)


def glue_crawler_logs(d: Deployment, e: Emitter) -> Iterator[Call]:
    for res in d.resources("AWS::Glue::Crawler"):
        role, security = _role_arn(d, res.props["Role"]), res.props.get("CrawlerSecurityConfiguration")
        why = f"crawler {res.label}"
        for group in _glue_log_groups(d, "crawlers", role, security):
            yield from e.logs(role, group, str(res.ref), why, create_group=True)
            if security and _security_configuration(d, security).get("CloudWatchEncryption"):
                yield from e.call(role, "logs:AssociateKmsKey", d.env.log_stream(group, ""), why)


def catalog_key(d: Deployment, e: Emitter) -> Iterator[Call]:
    """Readers (crawlers, Firehose's format conversion) decrypt and crawlers encrypt catalog objects."""
    for settings in d.resources("AWS::Glue::DataCatalogEncryptionSettings"):
        at_rest = settings.props["DataCatalogEncryptionSettings"].get("EncryptionAtRest", {})
        if at_rest.get("CatalogEncryptionMode") != "SSE-KMS":
            continue
        key = key_arn(d, at_rest.get("SseAwsKmsKeyId")) or d.aws_managed_key("glue")
        context = {"kms:ViaService": d.env.endpoint("glue")}
        for crawler in d.resources("AWS::Glue::Crawler"):
            role = _role_arn(d, crawler.props["Role"])
            yield from e.call(role, ["kms:Decrypt", "kms:GenerateDataKey"], key, f"crawler {crawler.label}", context)
        for res, dest in _delivery_streams(d):
            schema = dest.get("DataFormatConversionConfiguration", {}).get("SchemaConfiguration")
            if schema:
                yield from e.call(schema["RoleARN"], "kms:Decrypt", key, f"delivery stream {res.label}", context)


# --- S3 server access logging, VPC flow logs ------------------------------------------------------------------


def s3_access_logs(d: Deployment, e: Emitter) -> Iterator[Call]:
    for res in d.resources("AWS::S3::Bucket"):
        logging = res.props.get("LoggingConfiguration")
        if not logging or "DestinationBucketName" not in logging:
            continue
        key = f"{logging.get('LogFilePrefix', '')}2026-12-01-00-00-00-0A1B2C3D4E5F6A7B"
        context = {"aws:SourceArn": res.att("Arn"), "aws:SourceAccount": d.env.account}
        target = d.env.s3(logging["DestinationBucketName"], key)
        yield from e.call("logging.s3.amazonaws.com", "s3:PutObject", target, f"access logs of {res.label}", context)


def flow_logs(d: Deployment, e: Emitter) -> Iterator[Call]:
    for res in d.resources("AWS::EC2::FlowLog"):
        if res.props.get("LogDestinationType", "cloud-watch-logs") != "cloud-watch-logs":
            continue
        role, group = res.props["DeliverLogsPermissionArn"], res.props["LogGroupName"]
        why = f"flow log {res.label}"
        yield from e.call(role, "logs:DescribeLogStreams", d.env.log_stream(group, ""), why)
        yield from e.logs(role, group, "eni-0a1b2c3d4e5f60718-all", why)


# --- CloudWatch Logs encryption ------------------------------------------------------------------------------


def _encrypted_groups(d: Deployment) -> Iterator[tuple[str, str, str]]:
    """``(log group, key ARN, what)``: the KMS-encrypted log groups of the templates, and the ones Glue creates
    for a security configuration that encrypts CloudWatch logs."""
    for res in d.resources("AWS::Logs::LogGroup"):
        if res.props.get("KmsKeyId"):
            yield str(res.ref), str(key_arn(d, res.props["KmsKeyId"])), f"log group {res.label}"
    for kind, prop in (
        ("AWS::Glue::Job", "SecurityConfiguration"),
        ("AWS::Glue::Crawler", "CrawlerSecurityConfiguration"),
    ):
        for res in d.resources(kind):
            security = res.props.get(prop)
            encryption = _security_configuration(d, security).get("CloudWatchEncryption", {})
            if encryption.get("CloudWatchEncryptionMode") == "SSE-KMS":
                groups = _glue_log_groups(
                    d, "crawlers" if kind.endswith("Crawler") else "jobs", _role_arn(d, res.props["Role"]), security
                )
                for group in groups:
                    yield group, str(key_arn(d, encryption.get("KmsKeyArn"))), f"Glue logs of {res.label}"


def logs_group_key(d: Deployment, e: Emitter) -> Iterator[Call]:
    principal = f"logs.{d.env.region}.{d.env.url_suffix}"
    for group, key, why in _encrypted_groups(d):
        context = {"kms:EncryptionContext:aws:logs:arn": d.env.log_group(group), "aws:SourceAccount": d.env.account}
        yield from e.call(principal, ["kms:GenerateDataKey", "kms:Decrypt"], key, why, context)
