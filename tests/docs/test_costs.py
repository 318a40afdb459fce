"""docs/costs.md and tools/costs.py: the page shows exactly what the script computes, the quantities come from
the configuration, and the lifecycle example follows the raw zone's configured transition days.

No network, no CDK synth: the script reads the validated config only."""

from __future__ import annotations

import math

import pytest

from ml_config.config import AppConfig
from tools import costs

SANDBOX = "sandbox"
PRODUCTION = "production"


def lines_of(profile: str, **overrides: object) -> list[costs.Line]:
    return costs.estimate(costs.profile_config(profile, {k.replace("__", "."): v for k, v in overrides.items()}))


def only(lines: list[costs.Line], stack: str, starts: str) -> costs.Line:
    found = [line for line in lines if line.stack == stack and line.item.startswith(starts)]
    assert len(found) == 1, f"expected one {stack} line starting {starts!r}, got {[x.item for x in found]}"
    return found[0]


# --- the page cannot drift ----------------------------------------------------------------------------------


def test_page_embeds_the_generated_blocks() -> None:
    page = costs.DOC.read_text()
    for name, text in costs.blocks().items():
        stale = f"docs/costs.md block {name!r} is stale: run python -m tools.costs --write"
        assert costs.embedded(page, name) == text, stale


def test_check_mode_passes_on_the_committed_page() -> None:
    assert costs.main(["--check"]) == 0


def test_update_replaces_only_the_marked_blocks() -> None:
    begin, end = "<!-- costs:prices:begin -->", "<!-- costs:prices:end -->"
    page = f"intro\n{begin}\nold\n{end}\noutro\n"
    assert costs.update(page, {"prices": "new"}) == f"intro\n{begin}\nnew\n{end}\noutro\n"


# --- quantities come from the config -------------------------------------------------------------------------


def test_endpoint_line_follows_the_instance_type_and_count() -> None:
    sandbox = only(lines_of(SANDBOX), "serving", "real-time endpoint")
    assert sandbox.count == 1
    assert sandbox.monthly == pytest.approx(1 * 0.056 * costs.HOURS_PER_MONTH)
    production = only(lines_of(PRODUCTION), "serving", "real-time endpoint")
    assert production.count == 2
    assert production.monthly == pytest.approx(2 * 0.115 * costs.HOURS_PER_MONTH)
    three = only(lines_of(PRODUCTION, serving__instance_count=3), "serving", "real-time endpoint")
    assert three.count == 3
    assert three.monthly == pytest.approx(1.5 * production.monthly)
    assert three.hourly == pytest.approx(3 * 0.115)


def test_stream_line_follows_capacity_mode_and_shards() -> None:
    sandbox = lines_of(SANDBOX)
    shards = only(sandbox, "streaming", "Kinesis stream, provisioned")
    assert shards.count == 1
    assert shards.monthly == pytest.approx(0.015 * costs.HOURS_PER_MONTH)
    four = only(lines_of(SANDBOX, stream__shard_count=4), "streaming", "Kinesis stream, provisioned")
    assert four.monthly == pytest.approx(4 * shards.monthly)
    longer = lines_of(SANDBOX, stream__retention_hours=48)
    assert only(longer, "streaming", "Kinesis extended retention").monthly == pytest.approx(0.02 * 730)
    production = lines_of(PRODUCTION)
    assert not [line for line in production if line.item.startswith("Kinesis stream, provisioned")]
    assert only(production, "streaming", "Kinesis stream, on-demand").monthly == pytest.approx(0.04 * 730)


def test_alarm_counts_follow_the_constructs_choices() -> None:
    def alarms(lines: list[costs.Line], stack: str) -> float:
        return only(lines, stack, "CloudWatch alarms").count

    # provisioned + Parquet: iterator age, freshness, read throttling, write throttling, conversion failures
    assert alarms(lines_of(SANDBOX), "streaming") == 5
    assert alarms(lines_of(PRODUCTION), "streaming") == 4  # on demand: no write-throttling alarm
    assert alarms(lines_of(SANDBOX, firehose__output_format="json"), "streaming") == 4
    # 5XX, latency, drift violations, and the two alarms of the target-tracking policy; then, per scheduled function
    # (drift job, and the idle guard the sandbox has), dead letters + errors + a heartbeat over two metrics = 4
    assert alarms(lines_of(SANDBOX), "serving") == 5 + 4 + 4
    assert alarms(lines_of(SANDBOX, serving__idle_hours=""), "serving") == 5 + 4
    assert alarms(lines_of(SANDBOX), "training") == 3  # failed, timed-out, aborted executions


def test_fixed_quantities_one_key_no_paid_network() -> None:
    for profile in (SANDBOX, PRODUCTION):
        totals = costs.idle_by_stack(lines_of(profile))
        assert totals["data-lake"] == pytest.approx(1.00)  # one customer-managed key
        assert totals["network"] == 0  # gateway endpoint only: no interface endpoint, no NAT gateway
        assert totals["alerts"] == 0
    assert costs.INTERFACE_ENDPOINTS == 0
    assert costs.NAT_GATEWAYS == 0


def test_crawler_schedule_bills_while_idle_only_when_set() -> None:
    assert costs.idle_by_stack(lines_of(SANDBOX))["glue-etl"] == 0
    hourly = only(lines_of(PRODUCTION), "glue-etl", "Glue crawler runs")
    assert hourly.count == pytest.approx(730)
    assert hourly.monthly == pytest.approx(730 * 10 / 60 * 0.44)
    daily = only(lines_of(SANDBOX, catalog__crawler_schedule="cron(15 2 * * ? *)"), "glue-etl", "Glue crawler runs")
    assert daily.count == pytest.approx(365 / 12)


def test_training_runs_are_per_use_unless_scheduled() -> None:
    run = only(lines_of(SANDBOX), "training", "whole workflow run")
    assert run.monthly == 0
    assert run.per_use is not None
    assert run.per_use > 0
    scheduled = only(lines_of(SANDBOX, training__schedule="cron(0 3 ? * MON *)"), "training", "whole workflow run")
    assert scheduled.count == pytest.approx(52 / 12)
    assert scheduled.monthly == pytest.approx(scheduled.count * run.per_use)
    tuned = only(lines_of(SANDBOX, training__tuning__enabled=True), "training", "training jobs (tuning)")
    single = only(lines_of(SANDBOX), "training", "training job:")
    assert tuned.per_use == pytest.approx(10 * (single.per_use or 0))


def test_totals_add_up() -> None:
    for profile in (SANDBOX, PRODUCTION):
        lines = lines_of(profile)
        assert sum(costs.idle_by_stack(lines).values()) == pytest.approx(sum(line.monthly for line in lines))
        for line in lines:
            assert line.hourly * costs.HOURS_PER_MONTH == pytest.approx(line.monthly)


def test_every_price_used_has_a_source() -> None:
    used = {key for profile in (SANDBOX, PRODUCTION) for line in lines_of(profile) for key in line.prices}
    assert used <= set(costs.PRICES)
    for key, price in costs.PRICES.items():
        assert price.source.startswith("https://"), key
        assert price.status in {costs.AWS_PAGE, costs.THIRD_PARTY, costs.UNVERIFIED}, key
        assert price.usd >= 0, key


def test_an_unpriced_instance_type_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match=r"no hosting price for ml\.c5\.large"):
        lines_of(SANDBOX, serving__instance_type="ml.c5.large")
    assert costs.main(["--profile", SANDBOX, "-c", "serving.instance_type=ml.c5.large"]) == 2


@pytest.mark.parametrize(
    ("expression", "per_month"),
    [
        (None, 0),
        ("cron(20 * * * ? *)", 730),
        ("cron(0/15 * * * ? *)", 4 * 730),
        ("cron(0 8 ? * MON-FRI *)", 261 / 12),  # weekdays of 2027
        ("cron(0 0 L * ? *)", 1),
        ("cron(0 9 ? * 2#1 *)", 1),  # first Monday of the month
        ("cron(0 9 1 JAN,JUL ? *)", 2 / 12),
        ("cron(0 9 1 1 ? 2030)", 0),  # not in the reference year
        ("rate(1 hour)", 730),
        ("rate(6 hours)", 730 / 6),
    ],
)
def test_runs_per_month(expression: str | None, per_month: float) -> None:
    assert costs.runs_per_month(expression) == pytest.approx(per_month)


# --- the lifecycle example -----------------------------------------------------------------------------------


def expected_classes(config: AppConfig, first: int, last: int) -> tuple[str, ...]:
    """Independent of tools/costs.py: the class of each day from the config's own transition days."""
    raw = config.lake.raw
    steps = [
        (0, "STANDARD"),
        (raw.standard_ia_days, "STANDARD_IA"),
        (raw.glacier_ir_days, "GLACIER_IR"),
        (raw.glacier_days, "GLACIER"),
        (raw.deep_archive_days, "DEEP_ARCHIVE"),
    ]
    return tuple(dict.fromkeys([name for due, name in steps if day >= due][-1] for day in range(first, last + 1)))


@pytest.mark.parametrize(
    ("profile", "overrides"),
    [
        (SANDBOX, {}),
        (PRODUCTION, {}),
        (SANDBOX, {"lake.raw.standard_ia_days": 45}),
        (SANDBOX, {"lake.raw.standard_ia_days": 60, "lake.raw.glacier_ir_days": 120, "lake.raw.glacier_days": 200}),
        (SANDBOX, {"lake.raw.deep_archive_days": 300}),
    ],
)
def test_month_by_month_classes_follow_the_transition_days(profile: str, overrides: dict[str, object]) -> None:
    config = costs.profile_config(profile, overrides)
    example = costs.lifecycle_example(config)
    assert [row.month for row in example.months] == list(range(1, 13))
    assert example.months[0].first_day == 0
    assert example.months[-1].last_day == costs.WINDOW_DAYS - 1
    for previous, row in zip(example.months, example.months[1:], strict=False):
        assert row.first_day == previous.last_day + 1
    for row in example.months:
        assert row.classes == expected_classes(config, row.first_day, row.last_day), row
    assert example.saving > 0
    assert example.with_rules < example.all_standard


def test_default_lifecycle_sequence_and_saving() -> None:
    config = costs.profile_config(SANDBOX)
    example = costs.lifecycle_example(config)
    assert [row.classes for row in example.months[:2]] == [("STANDARD",), ("STANDARD_IA",)]
    assert example.months[-1].classes == ("GLACIER",)  # Deep Archive (day 365) is just after the year
    assert len(example.after_window) == 1
    assert "Deep Archive" in example.after_window[0]
    assert example.all_standard == pytest.approx(1024 * 0.023 * 12)
    assert example.objects == 1024 * 1024 // config.firehose.buffer_size_mib
    assert example.early == 0
    assert 0.5 < example.saving / example.all_standard < 0.9


def test_lifecycle_counts_objects_from_the_firehose_buffer() -> None:
    default = costs.lifecycle_example(costs.profile_config(SANDBOX))
    smaller = costs.lifecycle_example(costs.profile_config(SANDBOX, {"firehose.buffer_size_mib": 64}))
    assert smaller.objects == 2 * default.objects
    assert smaller.requests == pytest.approx(2 * default.requests)
    assert smaller.storage == pytest.approx(default.storage)


def test_leaving_a_class_before_its_minimum_duration_is_charged() -> None:
    config = costs.profile_config(SANDBOX, {"lake.raw.glacier_ir_days": 90, "lake.raw.glacier_days": 100})
    example = costs.lifecycle_example(config)
    gir = costs.RAW_CLASSES[1]
    assert example.early == pytest.approx(example.gib * 0.004 / costs.DAYS_PER_MONTH * (gir.minimum_days - 10))
    assert len(example.early_notes) == 1
    assert "Glacier Instant Retrieval" in example.early_notes[0]
    assert math.isclose(example.with_rules, example.storage + example.requests + example.overhead + example.early)


def test_the_idle_guard_caps_what_an_unused_endpoint_costs() -> None:
    """Sandbox: one ml.t2.medium, deleted after 8 idle hours (9 at most, the guard looks hourly): 9 instance-hours
    instead of 730 a month; production has no guard."""
    hourly = costs.sagemaker_price("hosting", "ml.t2.medium")
    capped = only(lines_of(SANDBOX), "serving", "an endpoint left unused")
    assert capped.per_use == pytest.approx(9 * hourly)
    assert f"{costs._usd(hourly * costs.HOURS_PER_MONTH)} a month" in capped.item
    assert only(lines_of(SANDBOX, serving__idle_hours="3"), "serving", "an endpoint left unused").per_use == (
        pytest.approx(4 * hourly)
    )
    assert not [line for line in lines_of(PRODUCTION) if "guard" in line.item]
