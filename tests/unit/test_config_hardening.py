"""Careless and hostile input, one table per class of mistake, through the loader (``load_config``), which is
exactly what ``python app.py -c`` and ``npx cdk synth -c`` run first (tests/cli runs a representative of each
class through both). Every bad value must give exactly one ``invalid config: <key>=<value repr>: ...`` line.

The tables are derived, not typed out, wherever a rule covers a family of keys: every key gets a trailing
newline, every numeric key its bound plus one and an eleven-digit value, every instance-type key the types the
SageMaker API allows for another use but not for its own.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import pytest

from ml_config import ConfigError, load_config
from ml_config.checks import bucket_name_problem, sagemaker_instance_types
from ml_config.config import config_keys

KEYS = config_keys()

# A valid text for every key whose model default is unset or not text (the others use their default).
VALID_TEXT = {
    "account": "123456789012",
    "region": "eu-west-1",
    "alerts.email": "ops@example.com",
    "catalog.crawler_schedule": "cron(15 2 * * ? *)",
    "training.schedule": "rate(1 day)",
    "training.xgboost_version": "1.7-1",
    "serving.idle_hours": "8",  # unset by default (no guard); a number is what the bounds apply to
    "stream.shard_count": "2",
    # the bias gate's bounds: unset by default (off); a number is what the bounds apply to
    "training.bias_gate.max_abs_dppl": "0.2",
    "training.bias_gate.min_di": "0.8",
    "training.bias_gate.max_di": "1.25",
    "training.bias_gate.max_abs_recall_difference": "0.2",
    "training.bias_gate.max_abs_accuracy_difference": "0.2",
}


def valid_text(key: str) -> str:
    if key in VALID_TEXT:
        return VALID_TEXT[key]
    default = KEYS[key].default
    if isinstance(default, Enum):
        return str(default.value)
    if isinstance(default, bool):
        return str(default).lower()
    return str(default)


def numeric_keys() -> list[str]:
    return [key for key, info in KEYS.items() if _upper_bound(info) is not None or key == "logs.retention_days"]


def _upper_bound(info: Any) -> tuple[str, float] | None:
    for meta in info.metadata:
        for attr in ("le", "lt"):
            if getattr(meta, attr, None) is not None:
                return attr, getattr(meta, attr)
    return None


def one_problem(context: dict[str, Any], key: str) -> str:
    """The single line the loader reports for ``context``, checked for form: one printable line naming ``key``."""
    with pytest.raises(ConfigError) as info:
        load_config(context)
    problems = info.value.problems
    assert len(problems) == 1, problems
    line = problems[0]
    assert line.startswith(f"invalid config: {key}="), line
    assert line.isprintable(), line  # no raw newline, tab or other control character reaches the terminal
    return line


def refused_each(cases: list[tuple[str, str]], fragment: str = "") -> None:
    """Every (key, value) of a table alone gives one line on its key; the failures of the whole table at once."""
    failures = []
    for key, value in cases:
        try:
            line = one_problem({key: value}, key)
            assert fragment in line, line
        except (AssertionError, pytest.fail.Exception) as exc:
            failures.append(f"{key}={value!r}: {exc}")
    assert failures == []


def test_every_valid_text_used_below_is_valid():
    # the tables below break one value at a time: the unbroken values must load, or a test proves nothing
    for key in KEYS:
        load_config({key: valid_text(key)})


# --- class 1: trailing (and leading) whitespace, on every key -------------------------------------------------

WHITESPACE = [(key, valid_text(key) + "\n") for key in KEYS] + [
    ("prefix", "mlspec "),
    ("prefix", " mlspec"),
    ("account", "123456789012\r\n"),
    ("network.cidr", "10.42.0.0/16\t"),
    ("alerts.email", " ops@example.com"),
    ("catalog.crawler_schedule", "cron(15 2 * * ? *) "),
    ("training.schedule", "rate(1 day)\n"),
    ("serving.instance_type", "ml.m5.large "),
    ("network.max_azs", " 2"),
    ("etl.outlier_k", "3.0 "),
]


def test_whitespace_around_a_value_is_refused():
    refused_each(WHITESPACE)


# --- class 2: digits other than ASCII 0-9 ---------------------------------------------------------------------

FULLWIDTH = {ord(digit): 0xFF10 + int(digit) for digit in "0123456789"}  # U+FF10..U+FF19
ARABIC_INDIC = {ord(digit): 0x0660 + int(digit) for digit in "0123456789"}  # U+0660..U+0669


def _wide(text: str) -> str:
    return text.translate(FULLWIDTH)


NON_ASCII_DIGITS = [(key, _wide(valid_text(key))) for key in numeric_keys()] + [
    ("account", _wide("123456789012")),  # full-width digits: they once reached jsii
    ("account", "123456789012".translate(ARABIC_INDIC)),
    ("prefix", "mlspec" + _wide("1")),
    ("network.cidr", _wide("10") + ".42.0.0/16"),
    ("network.cidr", "10.42.0.0/" + _wide("16")),
    ("catalog.crawler_schedule", f"cron({_wide('15')} 2 * * ? *)"),
    ("catalog.crawler_schedule", f"cron(15 2 * * ? {_wide('2027')})"),
    ("training.schedule", f"rate({_wide('5')} minutes)"),
    ("region", "eu-west-" + _wide("1")),
    ("network.max_azs", "3".translate(ARABIC_INDIC)),
    ("etl.outlier_k", "3.5".translate(ARABIC_INDIC)),
]


def test_non_ascii_digits_are_refused():
    refused_each(NON_ASCII_DIGITS)


# --- class 3: numbers beyond what AWS (or the documented cap) allows ------------------------------------------


def _beyond(key: str) -> list[tuple[str, str]]:
    bound = _upper_bound(KEYS[key])
    if bound is None:  # logs.retention_days: one of CloudWatch's values, the largest being 3653
        return [(key, "3654"), (key, "99999999999")]
    attr, limit = bound
    over = limit + 1 if isinstance(limit, int) else limit * 2
    values = [str(over), "99999999999", "1e308", "inf", "nan"]
    if attr == "lt":
        values.append(str(limit))
    return [(key, value) for value in values if not (isinstance(limit, int) and value in ("1e308", "inf", "nan"))]


UNBOUNDED = [case for key in numeric_keys() for case in _beyond(key)]


def test_every_number_has_an_upper_bound():
    # every int or float field is in numeric_keys(): none can take an arbitrarily large value
    numbers = {k for k, info in KEYS.items() if "int" in str(info.annotation) or "float" in str(info.annotation)}
    assert numbers == set(numeric_keys())


def test_numbers_beyond_the_limit_are_refused():
    refused_each(UNBOUNDED)


# --- class 4: cron and rate expressions -----------------------------------------------------------------------

BAD_CRON = [
    "cron(0 0 ? * FOO *)",  # not a day name
    "cron(0 0 ? * \u017fUN *)",  # long s: the parser's case-insensitive match would take it for SUN
    "cron(0 0 1 JAN-FOO ? *)",
    "cron(0 2 * * * *)",  # '?' in neither day field
    "cron(0 2 ? * ? *)",  # '?' in both
    "cron(60 0 1 * ? *)",
    "cron(0 24 1 * ? *)",
    "cron(0 0 32 * ? *)",
    "cron(0 0 0 * ? *)",
    "cron(0 0 1 13 ? *)",
    "cron(0 0 ? * 8 *)",
    "cron(0 0 ? * 0 *)",
    "cron(0 0 1 * ? 1969)",
    "cron(0 0 1 * ? 2200)",
    "cron(0 0 ? * 5#6 *)",
    "cron(0 0 1/0 * ? *)",
    "cron(*-5 0 1 * ? *)",
    "cron(0 0 ? * 3-* *)",
    "cron(0 0 1 * ?)",  # five fields
    "cron(0 0 1 * ? * *)",  # seven fields
    "cron(0  0 1 * ? *)",  # two spaces
    "cron(0\t0 1 * ? *)",
    "cron 0 0 1 * ? *",
    "CRON(0 0 1 * ? *)",
    "0 2 * * *",  # unix cron
    "cron()",
    "daily",
]
BAD_RATE = [
    "rate(1 hours)",  # 1 takes the singular
    "rate(5 hour)",  # more than 1 the plural
    "rate(0 minutes)",
    "rate(-1 minutes)",
    "rate(01 minute)",
    "rate(1.5 hours)",
    "rate(366 days)",  # beyond the project's cap of a year
    "rate(8761 hours)",
    "rate(525601 minutes)",
    "rate(1 week)",
    "rate(1  day)",
    "rate(1day)",
]


def test_bad_cron_expressions_are_refused():
    refused_each([(key, e) for key in ("catalog.crawler_schedule", "training.schedule") for e in BAD_CRON], "cron(")


def test_bad_rate_expressions_are_refused():
    refused_each([("training.schedule", expression) for expression in BAD_RATE], "rate(")
    refused_each([("catalog.crawler_schedule", "rate(1 day)")], "cron(")  # Glue crawlers take cron only


GOOD_SCHEDULES = [
    "cron(15 2 * * ? *)",
    "cron(0/15 * ? * MON-FRI *)",
    "cron(0 12 L * ? 2027)",
    "cron(0 0 LW * ? *)",
    "cron(0 0 15W * ? *)",
    "cron(0 8 ? * 2#1 *)",
    "cron(0 8 ? * MON#1 *)",
    "cron(0 8 ? * 6L *)",
    "cron(0 0 1 jan,jul ? *)",
    "cron(0 0 ? * sun *)",
    "cron(0 0 1 JAN-MAR ? 2027-2030)",
    "cron(59 23 31 DEC ? 2199)",
]


def test_the_aws_cron_dialect_is_accepted():
    for expression in GOOD_SCHEDULES:
        config = load_config({"catalog.crawler_schedule": expression, "training.schedule": expression})
        assert (config.catalog.crawler_schedule, config.training.schedule) == (expression, expression)


def test_rate_expressions_are_accepted_for_the_workflow():
    for expression in ["rate(1 minute)", "rate(2 minutes)", "rate(1 hour)", "rate(365 days)"]:
        assert load_config({"training.schedule": expression}).training.schedule == expression


# --- class 5: instance types, per use -------------------------------------------------------------------------

ENUMS = {
    "serving.instance_type": "ProductionVariantInstanceType",
    "training.instance_type": "TrainingInstanceType",
    "training.transform_instance_type": "TransformInstanceType",
}


def _other_uses_only(key: str) -> list[str]:
    """Types the SageMaker API allows for another use but not this one (the first three of each other use)."""
    own = set(sagemaker_instance_types(ENUMS[key]))
    wrong: list[str] = []
    for other in ENUMS.values():
        wrong += sorted(set(sagemaker_instance_types(other)) - own)[:3]
    return sorted(set(wrong))


WRONG_INSTANCE = [
    ("serving.instance_type", "ml.m5.medium"),  # the right shape, no such type
    ("training.instance_type", "ml.t2.medium"),  # an endpoint type, not a training type
    ("training.transform_instance_type", "ml.t2.medium"),
    *[(key, value) for key in ENUMS for value in ("m5.large", "ML.M5.LARGE", "ml.m5.huge", "ml.m5", "")],
    *[(key, value) for key in ENUMS for value in _other_uses_only(key)],
]


def test_instance_types_are_checked_per_use():
    for key, shape in ENUMS.items():
        refused_each([case for case in WRONG_INSTANCE if case[0] == key], shape)


def test_instance_types_come_from_the_sagemaker_api():
    # the smallest real-time type is no training type, and every default is valid for its use
    assert "ml.t2.medium" in sagemaker_instance_types("ProductionVariantInstanceType")
    assert "ml.t2.medium" not in sagemaker_instance_types("TrainingInstanceType")
    for key, shape in ENUMS.items():
        assert KEYS[key].default in sagemaker_instance_types(shape)


# --- class 6: VPC CIDRs in reserved or unusable ranges --------------------------------------------------------

BAD_CIDR = [
    "224.0.0.0/16",  # multicast
    "239.255.0.0/16",
    "127.0.0.0/16",  # loopback
    "0.0.0.0/16",
    "169.254.0.0/16",
    "240.0.0.0/16",
    "255.255.255.240/28",
    "100.64.0.0/16",  # shared address space
    "172.17.0.0/16",  # SageMaker's container range
    "172.16.0.0/15",  # contains it
    "198.18.0.0/16",  # benchmarking
    "192.0.2.0/24",  # documentation
    "10.0.0.0/8",  # too large for a VPC
    "10.0.0.0/15",
    "10.0.0.0/29",  # too small
    "10.0.0.1/16",  # host bits set
    "010.0.0.0/16",
    "10.0.0/16",
    "10.0.0.0",
    "::/64",
]


def test_reserved_and_unusable_vpc_cidrs_are_refused():
    refused_each([("network.cidr", cidr) for cidr in BAD_CIDR])


def test_private_and_public_vpc_cidrs_are_accepted():
    for cidr in ["10.42.0.0/16", "172.31.0.0/16", "192.168.0.0/20", "52.0.0.0/16", "10.0.0.0/28"]:
        context = {"network.cidr": cidr, "network.max_azs": "1", "network.subnet_mask": "28"}
        assert load_config(context).network.cidr == cidr


# --- class 7: S3 bucket-name rules, on the names the prefix begins -------------------------------------------

BAD_PREFIX = [
    "sthree",  # -> sthree-data-lake-...
    "sthree-x",
    "Sthree",  # CloudFormation lower-cases the stack name into the bucket name
    "xn-",  # -> xn--data-lake-...
    "Xn-",
    "xn--abc",
    "amzn-s3-demo",  # -> amzn-s3-demo-data-lake-...
    "AMZN-S3-Demo-x",
    "1mlspec",  # stack names begin with a letter
    "-mlspec",
    "ml_spec",
    "ml.spec",
    "mlspec-" + "x" * 14,  # 21 characters
    "",
]


def test_prefixes_that_would_make_invalid_bucket_names_are_refused():
    refused_each([("prefix", prefix) for prefix in BAD_PREFIX])


BAD_BUCKET_NAMES = [
    "ab",
    "a" * 64,
    "Upper-case",
    "under_score",
    "-leading-hyphen",
    "trailing-hyphen-",
    "two..dots",
    "192.168.1.1",
    "xn--punycode",
    "sthree-anything",
    "amzn-s3-demo-bucket",
    "name-s3alias",
    "name--ol-s3",
    "name.mrap",
    "name--x-s3",
    "name--table-s3",
]


def test_bucket_name_rules():
    assert [name for name in BAD_BUCKET_NAMES if bucket_name_problem(name) is None] == []
    for name in ["abc", "a" * 63, "mlspec-data-lake-datalakerawbucket-0a1b2c3d4e5f", "my.bucket-1"]:
        assert bucket_name_problem(name) is None, name


# --- class 8: e-mail addresses --------------------------------------------------------------------------------

BAD_EMAIL = [
    "nobody",
    "ops@localhost",
    "ops@example.com\n",
    " ops@example.com",
    "ops@example.com ",
    "ops@exämple.com",  # internationalized domain: SNS e-mail endpoints are ASCII here
    "ø@example.com",
    '"a b"@example.com',
    "ops@[192.0.2.1]",
    "ops@example..com",
    "ops@@example.com",
    "ops@-example.com",
    "ops@example.com,other@example.com",
    "",
]


def test_bad_email_addresses_are_refused():
    refused_each([("alerts.email", email) for email in BAD_EMAIL])


CLASSES = {
    "whitespace": WHITESPACE,
    "non-ASCII digits": NON_ASCII_DIGITS,
    "unbounded numbers": UNBOUNDED,
    "cron/rate": [*BAD_CRON, *BAD_CRON, *BAD_RATE, "rate(1 day)"],
    "instance type per use": WRONG_INSTANCE,
    "reserved CIDR": BAD_CIDR,
    "bucket-name rules": [*BAD_PREFIX, *BAD_BUCKET_NAMES],
    "e-mail": BAD_EMAIL,
}

if __name__ == "__main__":  # the counts the report quotes: python -m tests.unit.test_config_hardening
    for name, cases in CLASSES.items():
        print(f"{name}: {len(cases)} bad inputs")


# Where the AWS API's own model declares a range, the config's bounds are that range (or inside it).
API_RANGES = [
    ("firehose.buffer_interval_seconds", "firehose", "IntervalInSeconds", 1),
    ("firehose.buffer_size_mib", "firehose", "SizeInMBs", 1),
    ("serving.capture_percentage", "sagemaker", "SamplingPercentage", 1),
    ("athena.bytes_scanned_cutoff_mb", "athena", "BytesScannedCutoffValue", 1_000_000),  # MB as the stack sends
]


@pytest.mark.parametrize(("key", "service", "shape", "scale"), API_RANGES)
def test_bounds_stay_inside_the_api_models_range(key, service, shape, scale):
    import botocore.session

    declared = botocore.session.get_session().get_service_model(service).shape_for(shape).metadata
    info = KEYS[key]
    low = next(m.ge for m in info.metadata if getattr(m, "ge", None) is not None)
    high = _upper_bound(info)
    assert "min" in declared  # the model still declares the range this test reads
    assert low * scale >= declared["min"]
    if "max" in declared:
        assert high is not None
        assert high[1] * scale <= declared["max"]
