"""Glue Data Catalog, crawlers and the ETL job of the worked example, with Athena (syllabus §1.3, §2.3).

* A Glue security configuration (S3 SSE-KMS, CloudWatch Logs encryption, job-bookmark encryption, all with
  the lake key) used by the crawlers and the job, and the account's Data Catalog encryption settings.
* Two crawlers:
  - raw: the raw events table (owned by the streaming pipeline) gains a partition for each new
    ``dt=`` folder. Its schema-change policy only logs (the schema belongs to the streaming pipeline and
    the event schema), which is what lets it use the recrawl policy CRAWL_NEW_FOLDERS_ONLY: an incremental
    crawl reads only folders added since the last run, so it stays cheap as the raw zone grows;
  - curated: the prepared Parquet output of the ETL job becomes a table. The job rewrites it completely on
    every run and its columns follow the ETL's encoding, so this crawler updates the schema in the
    catalog, and incremental crawls require a log-only policy: it crawls everything (one small folder).
* The PySpark ETL job: the entry script and the transforms module are assets beside this module; the
  worked example's schema and the preparation parameters travel as job arguments (``transforms``).
* An Athena workgroup: results encrypted in the artifacts zone, configuration enforced, a bytes-scanned
  cutoff, CloudWatch metrics; named queries over the raw and curated tables.
* A Glue Data Quality ruleset on the curated table.

Precedence: the caller's validated settings (``EtlSettings``, ``CatalogSettings``, ``AthenaSettings``); the
encryption, the IAM scoping and the error handling are fixed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct, IConstruct

from ml_config.config import AthenaSettings, CatalogEncryption, CatalogSettings, EtlSettings
from ml_constructs.common import via_service
from ml_constructs.glue_etl import transforms
from ml_constructs.lake_layout import QUERY_RESULTS_PREFIX
from ml_constructs.nag import acknowledge, acknowledge_wildcard_resources

HERE = Path(__file__).resolve().parent
ENTRY_SCRIPT = HERE / "glue_entry.py"
CURATED_ROOT = "etl/"  # the job writes train/, validation/, test/, prepared/, quarantine/, report/ below it
CURATED_TABLE_PREFIX = "curated_"  # the curated crawler names the prepared table curated_prepared
CURATED_TABLE_NAME = CURATED_TABLE_PREFIX + transforms.PREPARED_PREFIX.rstrip("/")
RAW_TABLE_PREFIX = "raw_"  # the raw crawler finds the streaming pipeline's raw_events table at events/

_GLUE_VERSIONS = {"5.0": glue.GlueVersion.V5_0, "5.1": glue.GlueVersion.V5_1}
_WORKER_TYPES = {
    "G.1X": glue.WorkerType.G_1X,
    "G.2X": glue.WorkerType.G_2X,
    "G.4X": glue.WorkerType.G_4X,
    "G.8X": glue.WorkerType.G_8X,
}


@dataclass(frozen=True)
class Zones:
    raw: s3.IBucket
    curated: s3.IBucket
    artifacts: s3.IBucket
    raw_events_prefix: str  # where Firehose writes, e.g. "events/"
    raw_table_name: str


class GlueEtl(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        zones: Zones,
        database: glue.IDatabase,
        key: kms.IKey,
        s3_kms: bool,
        raw_format: str,
        etl: EtlSettings,
        catalog: CatalogSettings,
        athena_settings: AthenaSettings,
        workgroup_name: str,
        log_retention: logs.RetentionDays,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        # prefix-scoped wildcard resources granted per role, acknowledged one by one at the end
        self._wildcards: dict[str, tuple[iam.Role, list[str]]] = {}
        self.security_configuration = glue.SecurityConfiguration(
            self,
            "Security",
            s3_encryption=glue.S3Encryption.kms(key) if s3_kms else glue.S3Encryption.s3_managed(),
            cloud_watch_encryption=glue.CloudWatchEncryption.kms(key),
            job_bookmarks_encryption=glue.JobBookmarksEncryption.client_side_kms(key),
        )
        # Named resources: the L2 defaults to RETAIN, and a retained name blocks the next deploy of the stack.
        self.security_configuration.apply_removal_policy(removal_policy)
        self._catalog_encryption(catalog.encryption, key)

        raw_events = f"s3://{zones.raw.bucket_name}/{zones.raw_events_prefix}"
        curated_root = f"s3://{zones.curated.bucket_name}/{CURATED_ROOT}"
        prepared = curated_root + transforms.PREPARED_PREFIX

        # --- crawlers -------------------------------------------------------------------------------------
        self.crawler_role = iam.Role(
            self,
            "CrawlerRole",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description="Glue crawlers: read the raw events and curated prepared prefixes, update the lake catalog",
        )
        self._grant_catalog(self.crawler_role, database, write=True)
        self._grant_prefix(self.crawler_role, zones.raw, zones.raw_events_prefix, write=False)
        self._grant_prefix(self.crawler_role, zones.curated, CURATED_ROOT + transforms.PREPARED_PREFIX, write=False)
        self._grant_glue_logs(self.crawler_role, "crawlers")
        self._grant_key(self.crawler_role, key, s3_kms=s3_kms, write=False)
        schedule = (
            glue.CfnCrawler.ScheduleProperty(schedule_expression=catalog.crawler_schedule)
            if catalog.crawler_schedule
            else None
        )
        self.raw_crawler = glue.CfnCrawler(
            self,
            "RawCrawler",
            role=self.crawler_role.role_arn,
            database_name=database.database_name,
            description="Adds the partitions of new dt= folders to the raw events table",
            targets=glue.CfnCrawler.TargetsProperty(s3_targets=[glue.CfnCrawler.S3TargetProperty(path=raw_events)]),
            table_prefix=RAW_TABLE_PREFIX,
            schedule=schedule,
            # Log-only schema changes: the raw table's schema is the event schema, owned by the streaming
            # pipeline; a crawler must not rewrite it from whatever a file happens to contain.
            schema_change_policy=glue.CfnCrawler.SchemaChangePolicyProperty(
                update_behavior="LOG", delete_behavior="LOG"
            ),
            # Allowed because both behaviours above are LOG: crawl only folders added since the last run.
            recrawl_policy=glue.CfnCrawler.RecrawlPolicyProperty(recrawl_behavior="CRAWL_NEW_FOLDERS_ONLY"),
            configuration=json.dumps(
                {
                    "Version": 1.0,
                    # one table at s3://bucket/events/, partitions below it; new partitions take the table's
                    # schema and SerDe (Parquet or JSON, as the streaming pipeline defined it)
                    "Grouping": {"TableLevelConfiguration": 2},
                    "CrawlerOutput": {"Partitions": {"AddOrUpdateBehavior": "InheritFromTable"}},
                },
                sort_keys=True,
            ),
            crawler_security_configuration=self.security_configuration.security_configuration_name,
        )
        self.curated_crawler = glue.CfnCrawler(
            self,
            "CuratedCrawler",
            role=self.crawler_role.role_arn,
            database_name=database.database_name,
            description="Catalogs the ETL job's prepared Parquet output as the curated_prepared table",
            targets=glue.CfnCrawler.TargetsProperty(s3_targets=[glue.CfnCrawler.S3TargetProperty(path=prepared)]),
            table_prefix=CURATED_TABLE_PREFIX,
            # The prepared columns follow the ETL's encoding: let schema changes through to the catalog.
            # That rules out incremental crawls (they need a log-only policy), so it crawls everything.
            schema_change_policy=glue.CfnCrawler.SchemaChangePolicyProperty(
                update_behavior="UPDATE_IN_DATABASE", delete_behavior="DEPRECATE_IN_DATABASE"
            ),
            recrawl_policy=glue.CfnCrawler.RecrawlPolicyProperty(recrawl_behavior="CRAWL_EVERYTHING"),
            configuration=json.dumps({"Version": 1.0, "Grouping": {"TableLevelConfiguration": 3}}, sort_keys=True),
            crawler_security_configuration=self.security_configuration.security_configuration_name,
        )

        # --- the ETL job ------------------------------------------------------------------------------------
        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description="Glue ETL job: read the raw events, write the curated etl/ prefix",
        )
        self._grant_prefix(self.job_role, zones.raw, zones.raw_events_prefix, write=False)
        self._grant_prefix(self.job_role, zones.curated, CURATED_ROOT, write=True)
        self._grant_glue_logs(self.job_role, "jobs")
        self._grant_key(self.job_role, key, s3_kms=s3_kms, write=True)
        self.job_role.add_to_policy(
            iam.PolicyStatement(
                sid="JobMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],  # PutMetricData has no resource type; the namespace condition scopes it
                conditions={"StringEquals": {"cloudwatch:namespace": "Glue"}},
            )
        )
        self._track(self.job_role, "*")
        self.job_log_group = logs.LogGroup(
            self, "JobLogs", encryption_key=key, retention=log_retention, removal_policy=removal_policy
        )
        spec = transforms.spec_from_schema()
        params = transforms.EtlParams(
            raw_format=raw_format,
            split_fractions=(
                etl.train_fraction,
                etl.validation_fraction,
                round(1 - etl.train_fraction - etl.validation_fraction, 10),
            ),
            impute_method=etl.impute_method,
            outlier_k=etl.outlier_k,
            outlier_mode=etl.outlier_mode,
            n_bins=etl.n_bins,
            rebalance_ratio=etl.rebalance_ratio,
        )
        # A zip holding only transforms.py (CDK zips a directory asset), so that Glue can import it as the
        # top-level module `transforms`; a single-file asset would be named after its hash.
        library = s3_assets.Asset(self, "TransformsLibrary", path=str(HERE), exclude=["*", "!transforms.py"])
        script = s3_assets.Asset(self, "EntryScript", path=str(ENTRY_SCRIPT))
        self.job = glue.PySparkEtlJob(
            self,
            "Job",
            description="Worked example data preparation: raw events -> curated training data (seed §2.7-2.10)",
            role=self.job_role,
            script=glue.Code.from_bucket(script.bucket, script.s3_object_key),
            extra_python_files=[glue.Code.from_bucket(library.bucket, library.s3_object_key)],
            glue_version=_GLUE_VERSIONS[etl.glue_version.value],
            worker_configuration=glue.WorkerConfiguration(
                worker_type=_WORKER_TYPES[etl.worker_type.value], number_of_workers=etl.workers
            ),
            max_retries=etl.max_retries,
            timeout=cdk.Duration.minutes(etl.timeout_minutes),
            max_concurrent_runs=1,  # two runs would rewrite the same curated prefix at once
            security_configuration=self.security_configuration,
            enable_metrics=True,
            enable_observability_metrics=True,
            continuous_logging=glue.ContinuousLoggingProps(enabled=True, log_group=self.job_log_group, quiet=True),
            default_arguments={
                **transforms.job_arguments(raw_events, curated_root, spec, params),
                # Bookmarks off, on purpose: the job refits its statistics on the whole training split at every
                # run and reads with spark.read (which bookmarks do not track); see docs/glue-etl.md.
                "--job-bookmark-option": "job-bookmark-disable",
            },
        )
        self.curated_root = curated_root

        # --- Athena -----------------------------------------------------------------------------------------
        self.workgroup = athena.CfnWorkGroup(
            self,
            "Workgroup",
            name=workgroup_name,
            description="Queries over the worked example's raw and curated tables",
            recursive_delete_option=removal_policy == cdk.RemovalPolicy.DESTROY,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,  # users cannot switch off encryption or the cutoff
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=athena_settings.bytes_scanned_cutoff_mb * 1_000_000,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(selected_engine_version="AUTO"),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{zones.artifacts.bucket_name}/{QUERY_RESULTS_PREFIX}",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    )
                    if s3_kms
                    else athena.CfnWorkGroup.EncryptionConfigurationProperty(encryption_option="SSE_S3"),
                    expected_bucket_owner=stack.account,
                ),
            ),
        )
        self.workgroup.apply_removal_policy(removal_policy)
        self.named_queries = self._named_queries(database.database_name, zones.raw_table_name)

        # --- acknowledgements of what cdk-nag's IAM5 reports, each with its reason ---------------------------
        job_policy = _default_policy(self.job_role)
        # glue.Code.from_bucket grants read (s3:GetObject*, GetBucket*, List*) on exactly the two code objects.
        for action in ("s3:GetObject*", "s3:GetBucket*", "s3:List*"):
            acknowledge(
                job_policy,
                f"AwsSolutions-IAM5[Action::{action}]",
                "CDK's read grant for the job's code is scoped to exactly two objects of the bootstrap assets "
                "bucket (the entry script and the transforms zip); the action wildcards cannot reach further.",
            )
        for role, resources in self._wildcards.values():
            acknowledge_wildcard_resources(
                _default_policy(role),
                resources,
                "Object keys under one prefix of one lake bucket, log groups under /aws-glue/, and tables of the "
                "lake database: the ETL job and the crawlers create these names at run time. The one '*' is "
                "cloudwatch:PutMetricData, which has no resource type and is scoped by its namespace condition.",
            )

        # --- Data Quality -----------------------------------------------------------------------------------
        self.quality = glue.DataQualityRuleset(
            self,
            "CuratedQuality",
            ruleset_name=f"{stack.stack_name}-curated-prepared",
            description="Checks of the curated training data the ETL job writes",
            target_table=glue.DataQualityTargetTable.from_table_name(database, CURATED_TABLE_NAME),
            dqdl=glue.Dqdl.from_string(curated_dqdl(spec)),
        )
        self.quality.apply_removal_policy(removal_policy)  # fixed name: see the security configuration

    def _named_queries(self, database_name: str, raw_table: str) -> dict[str, athena.CfnNamedQuery]:
        queries = {
            "RawClassBalance": (
                "Class balance of the raw events (seed §2.8: unbalanced data)",
                f"SELECT is_fraud, count(*) AS events, round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS pct\n"
                f"FROM {raw_table}\nGROUP BY is_fraud\nORDER BY is_fraud",
            ),
            "RawDailyCount": (
                "Events per day for the last 7 days; the dt predicate prunes partitions, so only 7 folders are read",
                f"SELECT dt, count(*) AS events, sum(is_fraud) AS frauds\nFROM {raw_table}\n"
                "WHERE dt >= date_format(current_date - interval '7' day, '%Y-%m-%d')\nGROUP BY dt\nORDER BY dt",
            ),
            "CuratedClassBalance": (
                "Class balance per split after the ETL (train is rebalanced; validation and test are not)",
                f"SELECT split, is_fraud, count(*) AS rows\nFROM {CURATED_TABLE_NAME}\n"
                "GROUP BY split, is_fraud\nORDER BY split, is_fraud",
            ),
        }
        return {
            name: athena.CfnNamedQuery(
                self,
                name,
                database=database_name,
                work_group=self.workgroup.ref,
                name=name,
                description=description,
                query_string=sql,
            )
            for name, (description, sql) in queries.items()
        }

    # --- permissions ----------------------------------------------------------------------------------------

    def _grant_prefix(self, role: iam.Role, bucket: s3.IBucket, prefix: str, *, write: bool) -> None:
        """Objects under one prefix of one bucket: read, or read and write (deletes: the job rewrites it)."""
        objects = bucket.arn_for_objects(f"{prefix}*")
        actions = ["s3:GetObject"] + (["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"] if write else [])
        role.add_to_policy(iam.PolicyStatement(actions=actions, resources=[objects]))
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{prefix}*", prefix.rstrip("/")]}},
            )
        )
        self._track(role, objects)

    def _track(self, role: iam.Role, resource: str) -> None:
        self._wildcards.setdefault(role.node.path, (role, []))[1].append(resource)

    def _grant_catalog(self, role: iam.Role, database: glue.IDatabase, *, write: bool) -> None:
        stack = cdk.Stack.of(self)
        actions = [
            "glue:GetDatabase",
            "glue:GetTable",
            "glue:GetTables",
            "glue:GetPartition",
            "glue:GetPartitions",
            "glue:BatchGetPartition",
        ]
        if write:
            actions += [
                "glue:CreateTable",
                "glue:UpdateTable",
                "glue:CreatePartition",
                "glue:BatchCreatePartition",
                "glue:UpdatePartition",
                "glue:BatchUpdatePartition",
            ]
        tables = stack.format_arn(service="glue", resource="table", resource_name=f"{database.database_name}/*")
        role.add_to_policy(
            iam.PolicyStatement(
                sid="LakeCatalog",
                actions=actions,
                resources=[stack.format_arn(service="glue", resource="catalog"), database.database_arn, tables],
            )
        )
        self._track(role, tables)

    def _grant_glue_logs(self, role: iam.Role, kind: str) -> None:
        """Glue writes to /aws-glue/<kind>/... log groups; with a security configuration it also associates
        the lake key with them (logs:AssociateKmsKey)."""
        stack = cdk.Stack.of(self)
        groups = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"/aws-glue/{kind}*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="GlueLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"],
                resources=[groups],
            )
        )
        self._track(role, groups)

    def _grant_key(self, role: iam.Role, key: kms.IKey, *, s3_kms: bool, write: bool) -> None:
        """The lake key, only through the services that need it: S3 (objects), CloudWatch Logs (the
        security configuration's log encryption), Glue (bookmarks, and the Data Catalog when it uses this key)."""
        services = ["logs", "glue"] + (["s3"] if s3_kms else [])
        actions = ["kms:Decrypt", "kms:DescribeKey"] + (["kms:Encrypt", "kms:GenerateDataKey"] if write else [])
        if not write:
            actions += ["kms:GenerateDataKey"]  # crawlers write encrypted logs
        role.add_to_policy(
            iam.PolicyStatement(
                sid="LakeKeyThroughServices",
                actions=sorted(set(actions)),
                resources=[key.key_arn],
                conditions=via_service(self, *services),
            )
        )

    def _catalog_encryption(self, mode: CatalogEncryption, key: kms.IKey) -> None:
        if mode is CatalogEncryption.UNMANAGED:
            return
        lake_key = mode is CatalogEncryption.LAKE_KEY
        glue.CfnDataCatalogEncryptionSettings(
            self,
            "CatalogEncryption",
            catalog_id=cdk.Stack.of(self).account,
            data_catalog_encryption_settings=glue.CfnDataCatalogEncryptionSettings.DataCatalogEncryptionSettingsProperty(
                encryption_at_rest=glue.CfnDataCatalogEncryptionSettings.EncryptionAtRestProperty(
                    catalog_encryption_mode="SSE-KMS",
                    sse_aws_kms_key_id=key.key_arn if lake_key else None,  # unset: the aws/glue managed key
                ),
                connection_password_encryption=glue.CfnDataCatalogEncryptionSettings.ConnectionPasswordEncryptionProperty(
                    return_connection_password_encrypted=True,
                    kms_key_id=key.key_arn if lake_key else None,
                ),
            ),
        )


def _default_policy(role: iam.Role) -> IConstruct:
    """The CfnPolicy behind a role's default policy (where cdk-nag reports the role's statements)."""
    policy = role.node.find_child("DefaultPolicy").node.default_child
    assert policy is not None, f"{role.node.path} has no default policy"
    return policy


def curated_dqdl(spec: transforms.EtlSpec) -> str:
    """Glue Data Quality rules (DQDL) for the curated prepared table, derived from the ETL's output contract."""
    label = spec.label
    features = transforms.feature_columns(spec)
    rules = [
        "RowCount > 0",
        f'IsComplete "{label}"',
        f'ColumnValues "{label}" in [0, 1]',
        f'ColumnValues "{transforms.SPLIT_COLUMN}" in ["train", "validation", "test"]',
        *(f'IsComplete "{name}"' for name in features),  # imputation leaves no gap in any feature
    ]
    return "Rules = [\n    " + ",\n    ".join(rules) + "\n]"
