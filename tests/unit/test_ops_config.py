"""The configuration of the cost guardrails and the scheduled functions: the budget, the idle-endpoint guard and
reserved concurrency, their profile defaults and their bounds (one line per bad value)."""

from __future__ import annotations

import pytest

from ml_config import load_config
from tests.unit.test_config import errors


def test_the_sandbox_budgets_and_guards_the_endpoint_production_leaves_both_off():
    sandbox, production = load_config({}), load_config({"profile": "production"})
    assert (sandbox.budget.enabled, sandbox.budget.monthly_limit_usd, sandbox.serving.idle_hours) == (True, 50, 8)
    assert (production.budget.enabled, production.serving.idle_hours) == (False, None)
    # a fresh account (concurrency quota 10) cannot reserve any: off in the sandbox, on in production
    assert (sandbox.functions.reserve_concurrency, production.functions.reserve_concurrency) == (False, True)


@pytest.mark.parametrize("value", ["", "none", "off"])
def test_the_guard_is_turned_off_from_the_command_line(value):
    assert load_config({"serving.idle_hours": value}).serving.idle_hours is None


def test_string_values_from_the_command_line_are_coerced():
    config = load_config({"serving.idle_hours": "24", "budget.monthly_limit_usd": "10", "budget.enabled": "false"})
    assert (config.serving.idle_hours, config.budget.monthly_limit_usd, config.budget.enabled) == (24, 10, False)


@pytest.mark.parametrize(
    ("context", "key", "fragment"),
    [
        ({"serving.idle_hours": 0}, "serving.idle_hours=0", "greater than or equal to 1"),
        ({"serving.idle_hours": 169}, "serving.idle_hours=169", "less than or equal to 168"),
        ({"serving.idle_hours": True}, "serving.idle_hours=True", "boolean"),
        ({"budget.monthly_limit_usd": 0}, "budget.monthly_limit_usd=0", "greater than or equal to 1"),
        ({"budget.monthly_limit_usd": 2_000_000}, "budget.monthly_limit_usd=2000000", "less than or equal to"),
        ({"budget.enabled": "maybe"}, "budget.enabled='maybe'", "valid boolean"),
        ({"functions.reserve_concurrency": "2"}, "functions.reserve_concurrency='2'", "valid boolean"),
    ],
)
def test_bad_values_give_one_line_with_key_value_and_what_is_allowed(context, key, fragment):
    (line,) = errors(context)
    assert line.startswith("invalid config: ")
    assert key in line
    assert fragment in line
