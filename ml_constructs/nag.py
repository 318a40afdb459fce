"""cdk-nag acknowledgements, with the one rule the project adds: every acknowledgement carries a reason a
reviewer would accept (a full sentence, not "ok" or "n/a")."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct

MIN_REASON_LENGTH = 40


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge cdk-nag finding ``rule_id`` on ``construct`` and everything below it, for ``reason``."""
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise ValueError(f"acknowledgement of {rule_id} needs a reason of at least {MIN_REASON_LENGTH} characters")
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=rule_id, reason=reason))
