"""The validated value types the config models are built from, one home for each rule.

Every text value is matched whole and ASCII only (``re.fullmatch`` with explicit ``[0-9]`` classes: ``\\d`` and
``$`` would let full-width digits or a trailing newline through), or parsed by a library that knows the format (AWS
cron expressions, e-mail addresses, IP networks). Each check raises ``ValueError`` whose text says what is
allowed; ``ml_config.config`` turns it into the one-line ``invalid config:`` message. Nothing here imports
aws_cdk; botocore's SageMaker model is read only when an instance type is checked.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

# ---------------------------------------------------------------------------------------------------------
# Numbers: JSON numbers from cdk.json, or ASCII decimal text from `-c key=value`


_INT_TEXT = re.compile(r"[+-]?[0-9]{1,18}")
_FLOAT_TEXT = re.compile(r"[+-]?([0-9]{1,18}(\.[0-9]{0,18})?|\.[0-9]{1,18})([eE][+-]?[0-9]{1,3})?")


def _int_value(value: Any) -> Any:
    # pydantic's lax mode turns True into 1 and accepts ' 2\n'; a boolean or padded text is always a mistake.
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, str) and not _INT_TEXT.fullmatch(value):
        raise ValueError("an integer written with the digits 0-9 (no spaces, no decimal point)")
    return value


def _float_value(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, str) and not _FLOAT_TEXT.fullmatch(value):
        raise ValueError("a decimal number written with the digits 0-9, such as 0.25 (no spaces)")
    if isinstance(value, float | str) and not math.isfinite(float(value)):
        raise ValueError("a finite number")
    return value


Int = Annotated[int, BeforeValidator(_int_value)]
Float = Annotated[float, BeforeValidator(_float_value)]

#: S3 documents no maximum for lifecycle day counts beyond a 32-bit integer (PutBucketLifecycleConfiguration,
#: `Days`: integer); the project caps every lifecycle and retention day count at 36,500 days (100 years, the
#: maximum S3 takes for a default Object Lock retention in days) so that an extra digit is caught at synth
#: instead of reaching the template.
MAX_DAYS = 36_500


# ---------------------------------------------------------------------------------------------------------
# Identifiers

_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,19}")
_ACCOUNT = re.compile(r"[0-9]{12}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a string")
    return value


def check_account(value: Any) -> str:
    if not _ACCOUNT.fullmatch(_text(value)):
        raise ValueError("a 12-digit AWS account id (digits 0-9)")
    return str(value)


def check_region(value: Any) -> str:
    if not _REGION.fullmatch(_text(value)):
        raise ValueError("an AWS region name such as us-east-1 or eu-west-1")
    return str(value)


# S3 general purpose bucket naming rules (S3 user guide, "General purpose bucket naming rules",
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html, read 2026-12-06): 3-63
# characters; lowercase letters, digits, hyphens and dots; begins and ends with a letter or digit; no two
# adjacent dots; not an IP address; none of the reserved prefixes ('sthree-' covers 'sthree-configurator')
# and suffixes below.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_name_problem(name: str) -> str | None:
    """What is wrong with ``name`` as an S3 general purpose bucket name, or None."""
    if not _BUCKET.fullmatch(name):
        return "3-63 lowercase letters, digits, hyphens or dots, beginning and ending with a letter or digit"
    if ".." in name:
        return "no two adjacent dots"
    if re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,3}){3}", name):
        return "not formatted as an IP address"
    for reserved in BUCKET_RESERVED_PREFIXES:
        if name.startswith(reserved):
            return f"not beginning with {reserved!r} (reserved by S3)"
    for reserved in BUCKET_RESERVED_SUFFIXES:
        if name.endswith(reserved):
            return f"not ending with {reserved!r} (reserved by S3)"
    return None


#: The lake's buckets carry no explicit name: CloudFormation names each ``<stack name>-<logical id>-<random>``,
#: lower-cased and cut to 63 characters. The lake's stack is ``<prefix>-data-lake`` (stacks/__init__.py; a test
#: pins the two together), so every bucket name begins with the prefix.
DATA_LAKE_STACK_SUFFIX = "data-lake"


def longest_lake_bucket_name(prefix: str) -> str:
    """The longest bucket name CloudFormation can compose for the lake, as far as the prefix decides it: the
    stack name, a bucket's logical id and a 12-character suffix (at most 20 + 10 + 18 + 13 = 61 characters)."""
    return f"{prefix}-{DATA_LAKE_STACK_SUFFIX}-datalakerawbucket-0a1b2c3d4e5f".lower()


def check_prefix(value: Any) -> str:
    if not _PREFIX.fullmatch(_text(value)):
        raise ValueError("a letter, then up to 19 letters (A-Z, a-z), digits (0-9) or hyphens")
    name = longest_lake_bucket_name(value)
    problem = bucket_name_problem(name)
    if problem:
        raise ValueError(f"a prefix that makes valid S3 bucket names: the lake's are named like {name!r}: {problem}")
    return str(value)


# ---------------------------------------------------------------------------------------------------------
# Schedules


def check_cron(expression: Any) -> str:
    """An AWS (EventBridge/Glue) cron expression: six fields, '?' in exactly one day field, L/W/#, names.

    Parsed by aws-cron-expression-validator, which knows the AWS dialect (six fields, year 1970-2199, '?',
    L/W/#, JAN-DEC and SUN-SAT), wrapped where it is looser than AWS: it matches names case-insensitively
    with Unicode case folding (the long s, U+017F, passes for the S of SUN), so the text must be ASCII; and it
    accepts '*-5' and '5-*' ranges, which the EventBridge user guide does not define.
    """
    from aws_cron_expression_validator.validator import AWSCronExpressionError, AWSCronExpressionValidator

    allowed = (
        "cron(Minutes Hours Day-of-month Month Day-of-week Year), six fields, '?' in one day field, "
        "e.g. cron(15 2 * * ? *)"
    )
    text = _text(expression)
    match = re.fullmatch(r"cron\(([!-'*-~]+(?: [!-'*-~]+){5})\)", text) if text.isascii() else None
    if match is None:
        raise ValueError(allowed)
    fields = match.group(1)
    if "*-" in fields or "-*" in fields:
        raise ValueError(f"{allowed}; a range is two values such as 1-5, not '*-5' or '5-*'")
    try:
        AWSCronExpressionValidator.validate(fields)
    except AWSCronExpressionError as exc:
        raise ValueError(f"{allowed}: {exc}") from None
    return text


# EventBridge rate expressions (EventBridge user guide, "Rate expressions reference",
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html, read 2026-12-06):
# rate(value unit), a positive value, unit minute|hour|day for 1 and minutes|hours|days above. EventBridge
# documents no maximum; the project allows up to a year in each unit.
_RATE = re.compile(r"rate\(([1-9][0-9]{0,5}) (minute|minutes|hour|hours|day|days)\)")
_RATE_MAX = {"minute": 525_600, "hour": 8_760, "day": 365}


def check_rate(expression: str) -> str:
    allowed = "rate(1 minute|hour|day) or rate(N minutes|hours|days) with N >= 2 (up to a year)"
    match = _RATE.fullmatch(expression)
    if match is None:
        raise ValueError(allowed)
    value, unit = int(match.group(1)), match.group(2)
    singular = unit.removesuffix("s")
    if (value == 1) != (unit == singular) or value > _RATE_MAX[singular]:
        raise ValueError(allowed)
    return expression


def check_schedule(expression: Any) -> str:
    """An EventBridge schedule: a cron or a rate expression."""
    text = _text(expression)
    return check_rate(text) if text.startswith("rate(") else check_cron(text)


# ---------------------------------------------------------------------------------------------------------
# E-mail


def check_email(value: Any) -> str:
    """An address SNS can subscribe: ASCII, syntactically valid (email-validator; no DNS lookup at synth)."""
    from email_validator import EmailNotValidError, validate_email

    text = _text(value)
    if not text.isascii():
        raise ValueError("an ASCII e-mail address such as ops@example.com")
    try:
        validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(f"an e-mail address such as ops@example.com ({exc})") from None
    return text


# ---------------------------------------------------------------------------------------------------------
# VPC CIDR

# Amazon VPC user guide, "VPC CIDR blocks" (https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html,
# read 2026-12-06): "The allowed block size is between a /16
# netmask (65,536 IP addresses) and /28 netmask (16 IP addresses)"; AWS recommends the RFC 1918 ranges and
# allows "a publicly routable CIDR block that falls outside of the private IPv4 address ranges specified in RFC
# 1918"; and "Some AWS services use the 172.17.0.0/16 CIDR range ... Amazon SageMaker can experience IP
# address conflicts": this VPC exists for SageMaker jobs, so that range is refused too. Anything else (0/8,
# loopback, link-local, multicast, 240/4, documentation and benchmark ranges, and 100.64.0.0/10 shared
# address space, which the page does not name as allowed) is refused.
RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
SAGEMAKER_DOCKER_RANGE = ipaddress.IPv4Network("172.17.0.0/16")
#: Ranges that are never a VPC's (IANA special-purpose registry): named in the message when a CIDR overlaps one.
RESERVED_RANGES = {
    ipaddress.IPv4Network(net): name
    for net, name in (
        ("0.0.0.0/8", "'this network'"),
        ("100.64.0.0/10", "shared address space (RFC 6598)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved for future use"),
    )
}
_CIDR = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}")
_CIDR_ALLOWED = "an RFC 1918 range (10/8, 172.16/12, 192.168/16) or a publicly routable range"


def vpc_cidr_problem(net: ipaddress.IPv4Network) -> str | None:
    if not 16 <= net.prefixlen <= 28:
        return "a prefix length between /16 and /28 (the VPC limits)"
    if net.overlaps(SAGEMAKER_DOCKER_RANGE):
        return "outside 172.17.0.0/16 (SageMaker's containers use it; the VPC user guide says not to)"
    for reserved, name in RESERVED_RANGES.items():
        if net.overlaps(reserved):
            return f"{_CIDR_ALLOWED}, not {reserved} ({name})"
    if any(net.subnet_of(private) for private in RFC1918) or net.is_global:
        return None
    return f"{_CIDR_ALLOWED}, not a special-purpose range (documentation, benchmarking, ...)"


def check_vpc_cidr(value: Any) -> str:
    text = _text(value)
    if not _CIDR.fullmatch(text):
        raise ValueError("an IPv4 network in CIDR notation such as 10.42.0.0/16")
    try:
        net = ipaddress.IPv4Network(text, strict=True)
    except ValueError as exc:
        raise ValueError(f"an IPv4 network such as 10.42.0.0/16 ({exc})") from None
    problem = vpc_cidr_problem(net)
    if problem:
        raise ValueError(problem)
    return text


# ---------------------------------------------------------------------------------------------------------
# SageMaker instance types, per use, from the SageMaker API's own enumerations (botocore's service model)


@functools.cache
def sagemaker_instance_types(shape: str) -> tuple[str, ...]:
    """The values of one instance-type enumeration of the SageMaker API, as the installed botocore knows it."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return tuple(model.shape_for(shape).enum)


def _instance_type_of(shape: str, use: str) -> Any:
    def check(value: Any) -> str:
        allowed = sagemaker_instance_types(shape)
        if isinstance(value, str) and value in allowed:
            return value
        close = difflib.get_close_matches(str(value), allowed, n=3, cutoff=0.6)
        hint = f"; closest: {', '.join(close)}" if close else ""
        raise ValueError(f"a SageMaker {use} instance type ({shape} in the SageMaker API, {len(allowed)} types){hint}")

    return BeforeValidator(check)


EndpointInstanceType = Annotated[str, _instance_type_of("ProductionVariantInstanceType", "real-time endpoint")]
TrainingInstanceType = Annotated[str, _instance_type_of("TrainingInstanceType", "training")]
TransformInstanceType = Annotated[str, _instance_type_of("TransformInstanceType", "batch transform")]
ProcessingInstanceType = Annotated[str, _instance_type_of("ProcessingInstanceType", "processing")]


#: The most values a bias facet may have: the drift job's alarm of a facet holds one metric per value, and a
#: CloudWatch metric-math alarm takes at most 10 metrics (CloudWatch user guide, "Alarming on metric math
#: expressions").
MAX_FACET_VALUES = 10


def check_facets(value: Any) -> tuple[str, ...]:
    """Comma-separated bias facets: raw fields of the worked example's schema, categorical or ordinal, with at most
    ``MAX_FACET_VALUES`` values, each named once. Empty: none."""
    from worked_example import schema  # the schema the facets must belong to (no CDK, cheap)

    text = _text(value)
    names = tuple(text.split(",")) if text else ()
    allowed = [f.name for f in schema.FIELDS if f.kind in (schema.Kind.CATEGORICAL, schema.Kind.ORDINAL)]
    for name in names:
        field = schema.FIELDS_BY_NAME.get(name)
        if field is None or name not in allowed:
            what = "not a field of the event schema" if field is None else f"a {field.kind} field"
            raise ValueError(f"{name!r} is {what}; facets are categorical or ordinal fields: {', '.join(allowed)}")
        if len(field.values) > MAX_FACET_VALUES:
            raise ValueError(f"{name!r} has {len(field.values)} values, at most {MAX_FACET_VALUES} per facet")
    if len(set(names)) != len(names):
        raise ValueError("each facet at most once")
    return names
