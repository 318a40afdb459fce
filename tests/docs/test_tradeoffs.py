"""docs/data-prep-tradeoffs.md is the rendering of the committed measurements, and the measurements reproduce.

The default run checks the page against ``tools.tradeoffs.render`` of ``docs/data-prep-tradeoffs.json`` and that
the results cover every alternative the ETL offers today (a new imputation method without a measurement fails
here: run ``make tradeoffs``). The ``slow`` test re-runs the file's reproducibility check (its events and seeds, every
variant) and requires the same metrics and row counts; timings are not compared (they depend on the machine).
"""

from __future__ import annotations

import json

import pytest

from tools import tradeoffs

DETERMINISTIC = ("auc", "precision", "recall", "f1", "train_rows", "rows_dropped", "rows_synthesised", "seed")


def committed() -> dict:
    return json.loads(tradeoffs.RESULTS.read_text())


def test_the_page_is_the_rendering_of_the_results_file() -> None:
    assert tradeoffs.PAGE.read_text() == tradeoffs.render(committed())


def test_the_results_cover_every_alternative_the_etl_offers() -> None:
    results = committed()
    expected = [tradeoffs.variant_name(v) for v in tradeoffs.variants()]
    for part in ("main", "check"):
        assert [v["name"] for v in results[part]["variants"]] == expected, part
        assert all(len(v["runs"]) == len(results[part]["seeds"]) for v in results[part]["variants"])
    assert len(results["main"]["seeds"]) >= 5  # enough for the spread and the standard errors the page uses


def test_paired_differences_and_their_standard_error() -> None:
    default = [{"auc": 0.90}, {"auc": 0.92}, {"auc": 0.91}]
    variant = [{"auc": 0.91}, {"auc": 0.93}, {"auc": 0.93}]
    diff, se = tradeoffs.paired_difference(variant, default, "auc")
    # differences 0.01, 0.01, 0.02: mean 0.01333, sample sd 0.005774, se = sd / sqrt(3)
    assert diff == pytest.approx(0.04 / 3)
    assert se == pytest.approx(0.0057735 / 3**0.5, rel=1e-4)


@pytest.mark.slow
def test_the_reproducibility_check_gives_the_committed_numbers(tmp_path) -> None:
    from ml_constructs.glue_etl.local import local_spark

    check = committed()["check"]
    spark = local_spark("tradeoffs-check")
    measured = tradeoffs.measure(spark, check["events"], check["seeds"], tmp_path, log=lambda _: None)

    def numbers(variants: list) -> list:
        return [(v["name"], [{k: r[k] for k in DETERMINISTIC} for r in v["runs"]]) for v in variants]

    assert numbers(measured) == numbers(check["variants"])
