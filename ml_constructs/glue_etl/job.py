"""The PySpark ETL job: its role, its code (the ``runtime/`` folder), its log group, and the job itself.

Glue gets two objects: the entry script (``runtime/glue_entry.py``, the job's script) and the whole
``runtime/`` folder as a zip in ``--extra-py-files``. The zip's entries keep their repository path
(``ml_constructs/glue_etl/runtime/...``), so Glue imports the modules by the same names as the repository
and the tests do: no second import path, no code that differs between the two.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from ml_constructs.assets import SHARED_PACKAGE, shared_files
from ml_constructs.common import encrypted_log_group
from ml_constructs.glue_etl.grants import grant_glue_logs, grant_key, grant_prefix
from ml_constructs.lake_layout import CURATED_ROOT, EVENTS_PREFIX
from ml_constructs.nag import WildcardLedger

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
ENTRY_SCRIPT = RUNTIME_DIR / "glue_entry.py"
#: The import path of ``runtime/`` in the repository, kept inside the zip.
PACKAGE_PATH = ("ml_constructs", "glue_etl", "runtime")


@dataclass(frozen=True)
class JobSettings:
    """Where and how long the job runs. Defaults: the smallest Glue 5 job (2 G.1X workers, 2 DPU), no retry,
    stopped after an hour (Glue's own default timeout, 48 hours, would let a stuck run bill for two days)."""

    glue_version: glue.GlueVersion = glue.GlueVersion.V5_0
    worker_type: glue.WorkerType = glue.WorkerType.G_1X
    workers: int = 2
    max_retries: int = 0
    timeout: cdk.Duration = field(default_factory=lambda: cdk.Duration.minutes(60))


def job_role(
    scope: Construct,
    *,
    raw: s3.IBucket,
    curated: s3.IBucket,
    key: kms.IKey,
    s3_kms: bool,
    ledger: WildcardLedger,
) -> iam.Role:
    """Reads the raw events, writes (and rewrites) the curated ``etl/`` prefix, writes its logs and metrics."""
    role = iam.Role(
        scope,
        "JobRole",
        assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
        description="Glue ETL job: read the raw events, write the curated etl/ prefix",
    )
    grant_prefix(role, raw, EVENTS_PREFIX, write=False, ledger=ledger)
    grant_prefix(role, curated, CURATED_ROOT, write=True, ledger=ledger)
    grant_glue_logs(role, "jobs", ledger=ledger)
    # bookmarks are off (etl_job): the job never uses the key for them, nor the Data Catalog
    grant_key(role, key, s3_kms=s3_kms, writes_s3=True)
    role.add_to_policy(
        iam.PolicyStatement(
            sid="JobMetrics",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],  # PutMetricData has no resource type; the namespace condition scopes it
            conditions={"StringEquals": {"cloudwatch:namespace": "Glue"}},
        )
    )
    ledger.track(role, "*")
    return role


def etl_job(
    scope: Construct,
    *,
    role: iam.Role,
    arguments: Mapping[str, str],
    settings: JobSettings,
    security: glue.ISecurityConfiguration,
    log_key: kms.IKey,
    log_retention: logs.RetentionDays,
    removal_policy: cdk.RemovalPolicy,
) -> glue.PySparkEtlJob:
    """The job: ``runtime/`` as its code, ``arguments`` (the ETL's spec and parameters) as default arguments,
    its continuous logs in a log group of its own, encrypted with ``log_key``."""
    log_group = encrypted_log_group(
        scope, "JobLogs", key=log_key, retention=log_retention, removal_policy=removal_policy
    )
    script = _CodeObject(s3_assets.Asset(scope, "EntryScript", path=str(ENTRY_SCRIPT)))
    with tempfile.TemporaryDirectory() as directory:  # the asset copies the zip into the cloud assembly
        package = _CodeObject(s3_assets.Asset(scope, "Runtime", path=str(runtime_zip(Path(directory)))))
    return glue.PySparkEtlJob(
        scope,
        "Job",
        description="Worked example data preparation: raw events -> curated training data",
        role=role,
        script=script,
        extra_python_files=[package],
        glue_version=settings.glue_version,
        worker_configuration=glue.WorkerConfiguration(
            worker_type=settings.worker_type, number_of_workers=settings.workers
        ),
        max_retries=settings.max_retries,
        timeout=settings.timeout,
        max_concurrent_runs=1,  # two runs would rewrite the same curated prefix at once
        security_configuration=security,
        enable_metrics=True,
        enable_observability_metrics=True,
        continuous_logging=glue.ContinuousLoggingProps(enabled=True, log_group=log_group, quiet=True),
        default_arguments={
            **arguments,
            # Bookmarks off, on purpose: the job refits its statistics on the whole training split at every
            # run and reads with spark.read (which bookmarks do not track); see docs/glue-etl.md.
            "--job-bookmark-option": "job-bookmark-disable",
        },
    )


class _CodeObject(glue.Code):
    """One code object of the job, an asset: Glue reads it with the job's role (s3:GetObject on that object).

    ``glue.Code.from_bucket`` would grant read on the whole assets bucket too (s3:GetBucket*, s3:List*), calls
    Glue never makes for a script or an extra file."""

    def __init__(self, asset: s3_assets.Asset) -> None:
        super().__init__()
        self._asset = asset

    def bind(self, _scope: Construct, grantable: iam.IGrantable) -> glue.CodeConfig:
        asset = self._asset
        grantable.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid=f"ReadCode{asset.node.id}",
                actions=["s3:GetObject"],
                resources=[asset.bucket.arn_for_objects(asset.s3_object_key)],
            )
        )
        return glue.CodeConfig(
            s3_location=s3.Location(bucket_name=asset.s3_bucket_name, object_key=asset.s3_object_key)
        )


def runtime_zip(directory: Path) -> Path:
    """Write ``runtime/`` (without bytecode caches) into ``directory`` as a zip whose entries keep their
    repository path, directories included (Python imports ``ml_constructs`` and ``ml_constructs.glue_etl``
    from the zip as namespace packages, and finds those by their directory entries). Reproducible: entries in
    name order, a fixed date, stored uncompressed, so the asset's hash changes only when the code does. The shared
    runtime package (``ml_constructs/assets.py``) follows, under its own repository path."""
    target = directory / "glue-etl-runtime.zip"
    files = sorted(p for p in RUNTIME_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    with zipfile.ZipFile(target, "w") as archive:
        for depth in range(1, len(PACKAGE_PATH) + 1):
            archive.writestr(_entry("/".join(PACKAGE_PATH[:depth]) + "/"), b"")
        for path in files:
            archive.writestr(_entry("/".join((*PACKAGE_PATH, *path.relative_to(RUNTIME_DIR).parts))), path.read_bytes())
        # the runtime code shared with the Lambda functions (bias metrics), under its own import path
        archive.writestr(_entry("/".join(SHARED_PACKAGE) + "/"), b"")
        for path, name in shared_files():
            archive.writestr(_entry(name), path.read_bytes())
    return target


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = (0o40755 if name.endswith("/") else 0o100644) << 16
    return info
