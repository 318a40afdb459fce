"""The image tables in code against the authoritative sources, region by region.

Sources: sagemaker-core's published image-URI tables (``sagemaker/core/image_uri_config/xgboost.json`` and
``model-monitor.json``, read as data files of the installed distribution), its ``image_uris.retrieve`` (the
SDK's own URI builder, which takes the host name from botocore), and botocore's endpoint data for partitions.

Which regions are commercial: the json files do not say (they list every partition's regions side by side),
so the partition of each region comes from botocore's endpoint data (``endpoints.json``): a region belongs to
the partition that lists it, otherwise to the partition whose ``regionRegex`` matches it, as botocore itself
resolves it. Commercial means partition ``aws``; China (``aws-cn``), GovCloud (``aws-us-gov``) and the
isolated partitions (``aws-iso*``, ``aws-eusc``) are checked too, against the same sources.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import metadata
from typing import Any

import botocore.session
import pytest

import sagemaker_images as images
from sagemaker_images import (
    DEFAULT_SKLEARN_VERSION,
    DEFAULT_XGBOOST_VERSION,
    IMAGE_TABLES,
    MODEL_MONITOR_ACCOUNTS,
    MODEL_MONITOR_REPOSITORY,
    SKLEARN_ACCOUNTS,
    SKLEARN_REPOSITORY,
    XGBOOST_ACCOUNTS,
    XGBOOST_REPOSITORY,
    XGBOOST_VERSIONS,
    model_monitor_image_uri,
    partition_of,
    sklearn_image_uri,
    xgboost_image_uri,
)

SDK_DISTRIBUTION = "sagemaker-core"
SDK_TABLES = "sagemaker/core/image_uri_config/"


@cache
def sdk_table(name: str) -> dict[str, Any]:
    """One of sagemaker-core's image-URI json files, located through the distribution's file list."""
    for file in metadata.distribution(SDK_DISTRIBUTION).files or []:
        if str(file) == SDK_TABLES + name:
            return json.loads(file.read_text())
    raise AssertionError(f"{SDK_TABLES}{name} is not in the installed {SDK_DISTRIBUTION}")


@cache
def botocore_partitions() -> list[dict[str, Any]]:
    return botocore.session.get_session().get_data("endpoints")["partitions"]


def botocore_partition(region: str) -> dict[str, Any]:
    """The partition botocore puts ``region`` in: the one listing it, else the first whose regex matches."""
    for partition in botocore_partitions():
        if region in partition["regions"]:
            return partition
    for partition in botocore_partitions():
        if re.match(partition["regionRegex"], region):
            return partition
    raise AssertionError(f"botocore knows no partition for {region!r}")


def xgboost_registries(version: str, scope: str = "training") -> dict[str, str]:
    return sdk_table("xgboost.json")[scope]["versions"][version]["registries"]


SDK_REGIONS = sorted(xgboost_registries(DEFAULT_XGBOOST_VERSION))
COMMERCIAL = [r for r in SDK_REGIONS if botocore_partition(r)["partition"] == "aws"]
NON_COMMERCIAL = [r for r in SDK_REGIONS if r not in COMMERCIAL]


@cache
def retrieve(framework: str, region: str, version: str | None = None) -> str:
    from sagemaker.core import image_uris  # imported late: ~2 s, and only these tests need it

    return str(image_uris.retrieve(framework, region, version=version))


# --- The tables ----------------------------------------------------------------------------------------------


def test_sdk_version_is_the_pinned_one():
    # The tables in code were copied from this release; a new pin must be followed by a look at the diff.
    assert metadata.version(SDK_DISTRIBUTION) == "2.27.0"


@pytest.mark.parametrize("scope", ["training", "inference"])
@pytest.mark.parametrize("version", XGBOOST_VERSIONS)
def test_xgboost_accounts_equal_the_sdk_table(version: str, scope: str):
    config = sdk_table("xgboost.json")[scope]["versions"][version]
    assert config["repository"] == XGBOOST_REPOSITORY
    assert config["registries"] == dict(XGBOOST_ACCOUNTS)


def test_default_version_is_the_newest_with_the_widest_coverage():
    versions = {
        v: len(c["registries"])
        for v, c in sdk_table("xgboost.json")["training"]["versions"].items()
        if c.get("repository") == XGBOOST_REPOSITORY
    }

    def key(version: str) -> tuple[int, ...]:
        return tuple(int(part) for part in re.split(r"[.-]", version))

    assert max(versions, key=key) == DEFAULT_XGBOOST_VERSION
    assert versions[DEFAULT_XGBOOST_VERSION] == max(versions.values()) == len(XGBOOST_ACCOUNTS)
    assert DEFAULT_XGBOOST_VERSION in XGBOOST_VERSIONS


def test_model_monitor_accounts_equal_the_sdk_table():
    table = sdk_table("model-monitor.json")
    assert table["scope"] == ["monitoring"]
    assert list(table["versions"]) == [""]  # one unversioned image per region
    assert table["versions"][""]["repository"] == MODEL_MONITOR_REPOSITORY
    assert table["versions"][""]["registries"] == dict(MODEL_MONITOR_ACCOUNTS)


def test_sklearn_accounts_equal_the_sdk_table():
    config = sdk_table("sklearn.json")["inference"]["versions"][DEFAULT_SKLEARN_VERSION]
    assert config["repository"] == SKLEARN_REPOSITORY
    assert config["registries"] == dict(SKLEARN_ACCOUNTS)


def test_sklearn_default_is_the_newest_inference_version_with_the_widest_coverage():
    versions = {v: len(c["registries"]) for v, c in sdk_table("sklearn.json")["inference"]["versions"].items()}

    def key(version: str) -> tuple[int, ...]:  # "1.4-2-py312" -> (1, 4, 2): the py suffix is not a version part
        return tuple(int(part) for part in re.split(r"[.-]", version) if part.isdigit())

    assert max(versions, key=key) == DEFAULT_SKLEARN_VERSION
    assert versions[DEFAULT_SKLEARN_VERSION] == max(versions.values()) == len(SKLEARN_ACCOUNTS)


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"])
def test_sklearn_uri_matches_the_sdk(region: str):
    assert sklearn_image_uri(region) == retrieve("sklearn", region, DEFAULT_SKLEARN_VERSION)


def test_the_image_tables_name_every_table_once():
    # every table of the module is registered under its own repository
    assert IMAGE_TABLES == {
        XGBOOST_REPOSITORY: XGBOOST_ACCOUNTS,
        SKLEARN_REPOSITORY: SKLEARN_ACCOUNTS,
        MODEL_MONITOR_REPOSITORY: MODEL_MONITOR_ACCOUNTS,
    }


def test_sklearn_unknown_region_is_one_line():
    with pytest.raises(ValueError, match="allowed regions") as exc:
        sklearn_image_uri("xx-nowhere-1")
    assert "\n" not in str(exc.value)
    assert "'xx-nowhere-1'" in str(exc.value)


# --- Partitions ----------------------------------------------------------------------------------------------


def test_commercial_regions_come_from_botocore_partitions():
    assert len(COMMERCIAL) >= 25
    assert {"us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1", "il-central-1", "ca-west-1"} <= set(COMMERCIAL)
    assert all(not r.startswith(("cn-", "us-gov-", "us-iso")) for r in COMMERCIAL)
    assert {"cn-north-1", "cn-northwest-1", "us-gov-west-1", "us-iso-east-1"} <= set(NON_COMMERCIAL)


@pytest.mark.parametrize("region", sorted({r for p in botocore_partitions() for r in p["regions"]} | set(SDK_REGIONS)))
def test_partition_and_dns_suffix_match_botocore(region: str):
    partition = botocore_partition(region)
    assert partition_of(region) == (partition["partition"], partition["dnsSuffix"])


# --- URIs ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("region", COMMERCIAL)
def test_xgboost_uri_in_every_commercial_region(region: str):
    account = xgboost_registries(DEFAULT_XGBOOST_VERSION)[region]
    expected = f"{account}.dkr.ecr.{region}.amazonaws.com/sagemaker-xgboost:{DEFAULT_XGBOOST_VERSION}"
    assert xgboost_image_uri(region) == expected
    assert xgboost_image_uri(region) == retrieve("xgboost", region, DEFAULT_XGBOOST_VERSION)


@pytest.mark.parametrize("region", NON_COMMERCIAL)
def test_xgboost_uri_in_china_govcloud_and_isolated_regions(region: str):
    uri = xgboost_image_uri(region)
    assert uri == retrieve("xgboost", region, DEFAULT_XGBOOST_VERSION)
    assert uri.split("/")[0].endswith("." + botocore_partition(region)["dnsSuffix"])


def test_china_uses_its_own_dns_suffix():
    assert xgboost_image_uri("cn-north-1") == "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:3.2-0"


@pytest.mark.parametrize("version", XGBOOST_VERSIONS)
def test_every_supported_version_matches_the_sdk(version: str):
    assert xgboost_image_uri("eu-west-1", version) == retrieve("xgboost", "eu-west-1", version)


@pytest.mark.parametrize("region", sorted(MODEL_MONITOR_ACCOUNTS))
def test_model_monitor_uri_matches_the_sdk(region: str):
    assert model_monitor_image_uri(region) == retrieve("model-monitor", region)


def test_a_dns_suffix_token_can_be_passed_through():
    token = "${Token[AWS.URLSuffix.9]}"
    assert xgboost_image_uri("us-east-1", partition_dns_suffix=token) == (
        f"683313688378.dkr.ecr.us-east-1.{token}/sagemaker-xgboost:3.2-0"
    )
    assert model_monitor_image_uri("us-east-1", partition_dns_suffix=token).endswith(
        f".{token}/sagemaker-model-monitor-analyzer"
    )


# --- Errors ----------------------------------------------------------------------------------------------------


def one_line(exc: pytest.ExceptionInfo[ValueError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_unknown_region_names_the_region_and_the_allowed_ones():
    # A real commercial region without the image (if botocore knows one), and a made-up one.
    missing = sorted({r for p in botocore_partitions() for r in p["regions"]} - set(XGBOOST_ACCOUNTS))
    for region in [*missing[:3], "xx-nowhere-1"]:
        with pytest.raises(ValueError, match="region") as exc:
            xgboost_image_uri(region)
        message = one_line(exc)
        assert repr(region) in message
        assert "allowed regions: af-south-1, " in message
        assert "us-west-2" in message


def test_unknown_version_names_the_version_and_the_allowed_ones():
    for version in ("9.9-9", "1", "1.5-1", "3.2"):
        with pytest.raises(ValueError, match="version") as exc:
            xgboost_image_uri("us-east-1", version)
        message = one_line(exc)
        assert repr(version) in message
        assert "allowed: " + ", ".join(XGBOOST_VERSIONS) in message


def test_a_token_region_points_to_the_mapping():
    with pytest.raises(ValueError, match="CfnMapping") as exc:
        xgboost_image_uri("${Token[AWS.Region.8]}")
    one_line(exc)
    with pytest.raises(ValueError, match="not a concrete region"):
        model_monitor_image_uri("")


def test_model_monitor_unknown_region():
    with pytest.raises(ValueError, match="'us-gov-west-1' has no SageMaker Model Monitor analyzer image") as exc:
        model_monitor_image_uri("us-gov-west-1")
    one_line(exc)


def test_tables_are_read_only():
    with pytest.raises(TypeError):
        images.XGBOOST_ACCOUNTS["xx-nowhere-1"] = "0"  # type: ignore[index]
