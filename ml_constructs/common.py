"""Small helpers shared by the constructs."""

from __future__ import annotations

from aws_cdk import aws_logs as logs

from ml_config.config import LOG_RETENTION_DAYS

# RetentionDays lists the periods CloudWatch Logs accepts in increasing order, then INFINITE; a unit test
# checks the mapping against the synthesized RetentionInDays.
_RETENTION = dict(zip(LOG_RETENTION_DAYS, [m for m in logs.RetentionDays if m.name != "INFINITE"], strict=True))


def log_retention(days: int) -> logs.RetentionDays:
    """The RetentionDays member for a number of days CloudWatch Logs accepts (validated in the config)."""
    return _RETENTION[days]
