"""The bias keys: facets checked against the event schema, the gate's bounds off by default, one line per problem."""

from __future__ import annotations

import pytest

from ml_config import load_config
from tests.unit.test_config_hardening import one_problem


def test_defaults_measure_tier_and_channel_with_the_bias_gate_off() -> None:
    config = load_config({})
    assert config.bias.facet_list() == ("customer_tier", "channel")
    assert config.training.bias_gate.bounds() == {}
    assert load_config({"bias.facets": ""}).bias.facet_list() == ()  # no bias metrics at all


def test_turning_the_bias_gate_on() -> None:
    config = load_config({"training.bias_gate.min_di": "0.8", "training.bias_gate.max_abs_dppl": "0.1"})
    assert config.training.bias_gate.bounds() == {"max_abs_dppl": 0.1, "min_di": 0.8}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("amount", "'amount' is a numeric field"),
        ("tier", "'tier' is not a field of the event schema"),
        ("channel,channel", "each facet at most once"),
    ],
)
def test_a_facet_outside_the_schema_s_categorical_fields_is_one_line(value, reason) -> None:
    line = one_problem({"bias.facets": value}, "bias.facets")
    assert reason in line
