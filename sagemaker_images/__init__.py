"""ECR image URIs of SageMaker's built-in XGBoost, the prebuilt scikit-learn container and the Model Monitor
analyzer, per region, as code.

SageMaker's built-in algorithms are container images that AWS publishes in its own ECR registries, one AWS
account per region (syllabus §4: training code comes from a Docker image registered with an ECR path). A
training job, a model and a monitoring schedule name the image by URI::

    <account>.dkr.ecr.<region>.<DNS suffix>/sagemaker-xgboost:<version>
    <account>.dkr.ecr.<region>.<DNS suffix>/sagemaker-model-monitor-analyzer

The SageMaker Python SDK looks the account up at run time (``image_uris.retrieve``). A CDK app must not:
synth runs offline and must not depend on the SDK, so the tables are copied here and
``tests/training/test_images.py`` checks them, region by region, against the SDK's published tables
(``sagemaker/core/image_uri_config/xgboost.json`` and ``model-monitor.json`` in ``sagemaker-core``) and
against ``image_uris.retrieve`` itself.

Versions. Built-in XGBoost versions are named ``<xgboost major.minor>-<container revision>``. This project
trains with ``DEFAULT_XGBOOST_VERSION`` = ``3.2-0``: the newest version in sagemaker-core 2.27.0's table,
published in all 37 regions of the table (as many as any version), and with a matching ``xgboost`` 3.2
release on PyPI, so the tests train locally with the same library the container runs. All
``sagemaker-xgboost`` versions from ``1.7-1`` share one account per region (the test checks it), so the
older supported versions are accepted too (``XGBOOST_VERSIONS``); the legacy ``xgboost`` repository
(version ``1``) uses other accounts and is not supported.

The endpoint's preprocessing container is SageMaker's prebuilt scikit-learn image running our own code
(``<account>.../sagemaker-scikit-learn:<version>-cpu-py3``). ``DEFAULT_SKLEARN_VERSION`` = ``1.9-0``: the newest
framework version in sagemaker-core 2.27.0's ``sklearn.json`` (inference scope), published in all 37 regions of
the table like every other version there, with the same account per region as XGBoost (the test checks both).
The preprocessor is standard-library Python, so no scikit-learn API is involved: the newest image is simply the
one with the newest Python and the longest support ahead of it.

``IMAGE_TABLES`` lists every image table the app deploys from: the regions a stack can run in are derived from
it (a region is deployable only when every image the stack uses has an account there).

DNS suffix. The registry host is ``<account>.dkr.ecr.<region>.<suffix>``, and the suffix depends on the
partition: ``amazonaws.com`` in the commercial partition (``aws``) and in GovCloud (``aws-us-gov``),
``amazonaws.com.cn`` in China, and the isolated partitions' own domains (``PARTITIONS``; the test checks it
against botocore's endpoint data, which is where the SDK takes the host name from). In a stack the same
value is ``Stack.of(scope).url_suffix`` (``AWS::URLSuffix``).

Environment-agnostic stacks. When the region is a token at synth time, no lookup can happen in Python:
build a ``CfnMapping`` from ``XGBOOST_ACCOUNTS`` (region -> {"account": ...}), look the account up with
``Aws.REGION`` and assemble the URI with ``Aws.URL_SUFFIX``. ``xgboost_image_uri`` refuses a token region
with a message that says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

#: The built-in XGBoost version this project trains with (see the module docstring for why).
DEFAULT_XGBOOST_VERSION = "3.2-0"
#: Versions accepted by ``xgboost_image_uri``: all use the registries of ``XGBOOST_ACCOUNTS``.
XGBOOST_VERSIONS: tuple[str, ...] = ("1.7-1", "3.0-5", "3.2-0")
XGBOOST_REPOSITORY = "sagemaker-xgboost"
MODEL_MONITOR_REPOSITORY = "sagemaker-model-monitor-analyzer"
#: The prebuilt scikit-learn image the endpoint's preprocessing container runs (see the module docstring).
DEFAULT_SKLEARN_VERSION = "1.9-0"
SKLEARN_REPOSITORY = "sagemaker-scikit-learn"
#: The tag the SDK gives the CPU image of a version (``image_uris.retrieve("sklearn", region, version=...)``).
SKLEARN_TAG_SUFFIX = "-cpu-py3"

#: Region -> AWS account of the built-in XGBoost registry (sagemaker-core 2.27.0, ``xgboost.json``, training
#: and inference scopes alike, versions 1.7-1, 3.0-5 and 3.2-0).
XGBOOST_ACCOUNTS: Mapping[str, str] = MappingProxyType(
    {
        "af-south-1": "510948584623",
        "ap-east-1": "651117190479",
        "ap-northeast-1": "354813040037",
        "ap-northeast-2": "366743142698",
        "ap-northeast-3": "867004704886",
        "ap-south-1": "720646828776",
        "ap-south-2": "628508329040",
        "ap-southeast-1": "121021644041",
        "ap-southeast-2": "783357654285",
        "ap-southeast-3": "951798379941",
        "ap-southeast-4": "106583098589",
        "ca-central-1": "341280168497",
        "ca-west-1": "190319476487",
        "cn-north-1": "450853457545",
        "cn-northwest-1": "451049120500",
        "eu-central-1": "492215442770",
        "eu-central-2": "680994064768",
        "eu-north-1": "662702820516",
        "eu-south-1": "978288397137",
        "eu-south-2": "104374241257",
        "eu-west-1": "141502667606",
        "eu-west-2": "764974769150",
        "eu-west-3": "659782779980",
        "il-central-1": "898809789911",
        "me-central-1": "272398656194",
        "me-south-1": "801668240914",
        "sa-east-1": "737474898029",
        "us-east-1": "683313688378",
        "us-east-2": "257758044811",
        "us-gov-east-1": "237065988967",
        "us-gov-west-1": "414596584902",
        "us-iso-east-1": "833128469047",
        "us-isob-east-1": "281123927165",
        "us-isof-east-1": "108575199400",
        "us-isof-south-1": "124985052026",
        "us-west-1": "746614075791",
        "us-west-2": "246618743249",
    }
)

#: Region -> AWS account of the Model Monitor analyzer registry (sagemaker-core 2.27.0, ``model-monitor.json``).
#: Model Monitor is closed to new customers (docs/service-status.md); this table is for accounts that still have it.
MODEL_MONITOR_ACCOUNTS: Mapping[str, str] = MappingProxyType(
    {
        "af-south-1": "875698925577",
        "ap-east-1": "001633400207",
        "ap-northeast-1": "574779866223",
        "ap-northeast-2": "709848358524",
        "ap-northeast-3": "990339680094",
        "ap-south-1": "126357580389",
        "ap-southeast-1": "245545462676",
        "ap-southeast-2": "563025443158",
        "ap-southeast-3": "669540362728",
        "ca-central-1": "536280801234",
        "cn-north-1": "453000072557",
        "cn-northwest-1": "453252182341",
        "eu-central-1": "048819808253",
        "eu-central-2": "590183933784",
        "eu-north-1": "895015795356",
        "eu-south-1": "933208885752",
        "eu-south-2": "437450045455",
        "eu-west-1": "468650794304",
        "eu-west-2": "749857270468",
        "eu-west-3": "680080141114",
        "il-central-1": "843974653677",
        "me-central-1": "588750061953",
        "me-south-1": "607024016150",
        "sa-east-1": "539772159869",
        "us-east-1": "156813124566",
        "us-east-2": "777275614652",
        "us-isof-east-1": "853188333426",
        "us-isof-south-1": "467912361380",
        "us-west-1": "890145073186",
        "us-west-2": "159807026194",
    }
)

#: Region -> AWS account of the prebuilt scikit-learn registry (sagemaker-core 2.27.0, ``sklearn.json``, inference
#: scope, version 1.9-0). Today every account equals XGBoost's; the SDK publishes the two apart, and the test checks
#: this table against ``sklearn.json`` itself, so a divergence fails there rather than at deploy.
SKLEARN_ACCOUNTS: Mapping[str, str] = MappingProxyType(dict(XGBOOST_ACCOUNTS))


#: Every image table a stack may resolve its images from, by name. ``sagemaker_images.resolve`` records on the
#: stack each table it resolves from, and the region table (``stacks/regions.py``) counts a region as able to run
#: the stack only where each of those tables has an account. A new image table is one line here.
IMAGE_TABLES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        XGBOOST_REPOSITORY: XGBOOST_ACCOUNTS,
        MODEL_MONITOR_REPOSITORY: MODEL_MONITOR_ACCOUNTS,
        SKLEARN_REPOSITORY: SKLEARN_ACCOUNTS,
    }
)

#: (region name prefix, partition, DNS suffix), most specific prefix first; any other region is in ``aws``.
PARTITIONS: tuple[tuple[str, str, str], ...] = (
    ("cn-", "aws-cn", "amazonaws.com.cn"),
    ("us-gov-", "aws-us-gov", "amazonaws.com"),
    ("us-isob-", "aws-iso-b", "sc2s.sgov.gov"),
    ("us-isof-", "aws-iso-f", "csp.hci.ic.gov"),
    ("us-iso-", "aws-iso", "c2s.ic.gov"),
    ("eu-isoe-", "aws-iso-e", "cloud.adc-e.uk"),
    ("eusc-", "aws-eusc", "amazonaws.eu"),
)
COMMERCIAL_PARTITION = ("aws", "amazonaws.com")


def partition_of(region: str) -> tuple[str, str]:
    """``(partition, DNS suffix)`` of a region name, e.g. ``("aws-cn", "amazonaws.com.cn")`` for cn-north-1."""
    for prefix, partition, suffix in PARTITIONS:
        if region.startswith(prefix):
            return partition, suffix
    return COMMERCIAL_PARTITION


def _check_concrete(region: str, what: str) -> None:
    if "${Token[" in region or not region:
        raise ValueError(
            f"{what}: region {region!r} is not a concrete region name; for an environment-agnostic stack "
            f"look the account up in a CfnMapping built from the accounts table instead"
        )


def ecr_image_uri(account: str, region: str, repository: str, tag: str | None, dns_suffix: str) -> str:
    """``<account>.dkr.ecr.<region>.<dns_suffix>/<repository>[:<tag>]``."""
    uri = f"{account}.dkr.ecr.{region}.{dns_suffix}/{repository}"
    return f"{uri}:{tag}" if tag else uri


def xgboost_image_uri(
    region: str, version: str = DEFAULT_XGBOOST_VERSION, partition_dns_suffix: str | None = None
) -> str:
    """The built-in XGBoost image URI (training and inference use the same one) for a concrete region.

    ``partition_dns_suffix`` defaults to the region's partition suffix (``partition_of``); pass
    ``Stack.of(scope).url_suffix`` to let CloudFormation fill it in. Unknown region or version -> ``ValueError``.
    """
    _check_concrete(region, "xgboost image")
    if version not in XGBOOST_VERSIONS:
        raise ValueError(f"xgboost image: version {version!r} is not supported; allowed: {', '.join(XGBOOST_VERSIONS)}")
    account = XGBOOST_ACCOUNTS.get(region)
    if account is None:
        raise ValueError(
            f"xgboost image: region {region!r} has no SageMaker built-in XGBoost {version} image; "
            f"allowed regions: {', '.join(sorted(XGBOOST_ACCOUNTS))}"
        )
    suffix = partition_dns_suffix or partition_of(region)[1]
    return ecr_image_uri(account, region, XGBOOST_REPOSITORY, version, suffix)


def model_monitor_image_uri(region: str, partition_dns_suffix: str | None = None) -> str:
    """The Model Monitor analyzer image URI (no tag, as the SDK returns it) for a concrete region."""
    _check_concrete(region, "model monitor image")
    account = MODEL_MONITOR_ACCOUNTS.get(region)
    if account is None:
        raise ValueError(
            f"model monitor image: region {region!r} has no SageMaker Model Monitor analyzer image; "
            f"allowed regions: {', '.join(sorted(MODEL_MONITOR_ACCOUNTS))}"
        )
    suffix = partition_dns_suffix or partition_of(region)[1]
    return ecr_image_uri(account, region, MODEL_MONITOR_REPOSITORY, None, suffix)


def sklearn_image_uri(
    region: str, version: str = DEFAULT_SKLEARN_VERSION, partition_dns_suffix: str | None = None
) -> str:
    """The prebuilt scikit-learn (CPU) image URI for a concrete region; unknown region -> ``ValueError``."""
    _check_concrete(region, "scikit-learn image")
    account = SKLEARN_ACCOUNTS.get(region)
    if account is None:
        raise ValueError(
            f"scikit-learn image: region {region!r} has no SageMaker scikit-learn image; "
            f"allowed regions: {', '.join(sorted(SKLEARN_ACCOUNTS))}"
        )
    suffix = partition_dns_suffix or partition_of(region)[1]
    return ecr_image_uri(account, region, SKLEARN_REPOSITORY, version + SKLEARN_TAG_SUFFIX, suffix)


def resolve_xgboost_version(version: str) -> str:
    """The configured version, or the project's default when the configuration leaves it empty."""
    chosen = version or DEFAULT_XGBOOST_VERSION
    if chosen not in XGBOOST_VERSIONS:
        raise ValueError(f"xgboost image: version {chosen!r} is not supported; allowed: {', '.join(XGBOOST_VERSIONS)}")
    return chosen


def image_uri_expression(account: str, region: str, dns_suffix: str, version: str) -> str:
    """The XGBoost image URI from parts that may be CloudFormation tokens (environment-agnostic stacks)."""
    return ecr_image_uri(account, region, XGBOOST_REPOSITORY, version, dns_suffix)
