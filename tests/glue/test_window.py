"""The training window: its parameters, the partitions it names, and that the job lists and reads nothing else.

The raw zone here is a few tiny ``dt=`` partitions of JSON Lines (Firehose's json mode); one partition outside the
window holds a file that is not GZIP at all: reading it fails the job, so a run that ignores it proves the
partition was not read.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from ml_constructs.glue_etl.runtime.contract import MAX_WINDOW_DAYS, EtlParams
from ml_constructs.glue_etl.runtime.steps import read_raw
from ml_constructs.glue_etl.runtime.window import NoPartitionsInWindowError, day_patterns, partition_of, window_glob
from tests.glue.conftest import event_date, write_gzip_lines

#: Partition -> rows; 2026-10-30, the day before the first one, holds the corrupt file (outside every window below).
DAYS = {"2026-10-31": 1, "2026-11-01": 2, "2026-11-02": 3, "2026-11-30": 4, "2026-12-01": 5}
CORRUPT_DAY = "2026-10-30"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("window-lake") / "events"
    for day, rows in DAYS.items():
        write_gzip_lines(root / f"dt={day}" / "part-0.gz", [f'{{"n":{i}}}'.encode() for i in range(rows)])
    (root / f"dt={CORRUPT_DAY}").mkdir()
    (root / f"dt={CORRUPT_DAY}" / "part-0.gz").write_bytes(b"not gzip: reading this file fails the job")
    return root


# --- The parameters --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"window_days": "-1"}, "--window_days=-1 is not allowed: an integer from 0 (the whole lake) to 36500"),
        ({"window_days": str(MAX_WINDOW_DAYS + 1)}, "--window_days=36501 is not allowed"),
        ({"window_days": "seven"}, "--window_days='seven' is not a valid int"),
        ({"window_end": "2026-11-31"}, "--window_end='2026-11-31' is not allowed: a date YYYY-MM-DD"),
        ({"window_end": "2026-1-5"}, "--window_end='2026-1-5' is not allowed"),
        ({"window_end": "20261105"}, "--window_end='20261105' is not allowed"),
        ({"window_end": "0001-01-03", "window_days": "7"}, "--window_end='0001-01-03' is not allowed"),
    ],
)
def test_a_bad_window_argument_is_one_line_naming_it(args, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")) as error:
        EtlParams.from_args(args)
    assert "\n" not in str(error.value)


def test_the_window_ends_on_the_given_day_or_the_run_date_and_counts_both_ends():
    run_date = date(2026, 12, 6)
    assert EtlParams().window(run_date) is None  # the job's own default: the whole lake
    assert EtlParams(window_days=1).window(run_date) == (run_date, run_date)
    assert EtlParams(window_days=28).window(run_date) == (date(2026, 11, 9), run_date)  # 6 Dec minus 27 days
    assert EtlParams(window_days=3, window_end="2026-03-01").window(run_date) == (date(2026, 2, 27), date(2026, 3, 1))
    # an empty window_end is not a job argument (the run takes its own date); a given one is
    assert "--window_end" not in EtlParams(window_days=3).to_args()
    given = EtlParams(window_days=3, window_end="2026-03-01")
    assert given.to_args()["--window_end"] == "2026-03-01"
    assert EtlParams.from_args({k[2:]: v for k, v in given.to_args().items()}) == given  # round trip


def test_the_glob_names_every_day_once_with_whole_months_and_years_folded():
    assert day_patterns(date(2026, 11, 30), date(2026, 12, 1)) == ["2026-11-30", "2026-12-01"]
    assert day_patterns(date(2026, 10, 31), date(2026, 12, 2)) == [
        "2026-10-31",
        "2026-11-*",
        "2026-12-01",
        "2026-12-02",
    ]
    assert day_patterns(date(2025, 12, 31), date(2027, 1, 1)) == ["2025-12-31", "2026-*", "2027-01-01"]
    assert window_glob("s3://raw/events/", date(2026, 12, 1), date(2026, 12, 1)) == "s3://raw/events/dt=2026-12-01"
    # the longest window stays short: 100 years are ~100 year patterns plus the partial months and days at its ends
    longest = day_patterns(date(1927, 1, 1), date(2026, 12, 31))
    assert longest == [f"{year}-*" for year in range(1927, 2027)]
    with pytest.raises(ValueError, match="starts 2026-12-02 after it ends 2026-12-01"):
        day_patterns(date(2026, 12, 2), date(2026, 12, 1))


# --- Pruning: what Spark lists and reads ---------------------------------------------------------------------


def _read(spark, lake: Path, start: str, end: str):
    return read_raw(spark, str(lake) + "/", "json", (date.fromisoformat(start), date.fromisoformat(end)))


def test_only_the_files_of_in_window_partitions_are_listed_and_read(spark, lake):
    df = _read(spark, lake, "2026-10-31", "2026-11-30")  # a day, then a whole month (2026-11-*)
    inside = ["2026-10-31", "2026-11-01", "2026-11-02", "2026-11-30"]
    # the file index holds the in-window partitions only (the corrupt one, the day before, is not even listed)
    assert sorted(partition_of(f) for f in df.inputFiles()) == inside
    counts = {r["dt"]: r["count"] for r in df.groupBy("dt").count().collect()}
    assert counts == {d: DAYS[d] for d in inside}  # the rows written per day
    plan = df._jdf.queryExecution().executedPlan().toString()
    assert "PartitionFilters: [" in plan
    assert f"dt={CORRUPT_DAY}" not in plan


def test_the_first_and_last_day_are_inside_and_the_days_next_to_them_are_not(spark, lake):
    counts = {
        r["dt"]: r["count"] for r in _read(spark, lake, "2026-11-02", "2026-11-30").groupBy("dt").count().collect()
    }
    assert counts == {"2026-11-02": 3, "2026-11-30": 4}  # not 2026-11-01 nor 2026-12-01
    one_day = _read(spark, lake, "2026-12-01", "2026-12-01")
    assert one_day.count() == DAYS["2026-12-01"]


def test_the_whole_lake_reads_the_corrupt_partition_and_fails(spark, lake):
    """The contrast: without a window, the out-of-window file above is read, and fails the read."""
    whole = read_raw(spark, str(lake) + "/", "json")
    assert any(partition_of(f) == CORRUPT_DAY for f in whole.inputFiles())
    with pytest.raises(Exception, match=r"(?i)gzip|end of input"):
        whole.count()


def test_a_window_without_partitions_is_one_clear_error(spark, lake):
    with pytest.raises(NoPartitionsInWindowError, match=r"no 'dt=' partition from 2026-11-03 to 2026-11-27"):
        _read(spark, lake, "2026-11-03", "2026-11-27")  # the lake has days before and after, none inside


# --- The job: the window it is given, and the report of what it read --------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"window_days": "3", "window_end": "2026-11-29"}, "from 2026-11-27 to 2026-11-29"),
        ({"window_days": "5"}, "from 2026-11-25 to 2026-11-29"),  # no window_end: the run's date (UTC), inclusive
    ],
)
def test_the_job_reads_the_window_of_its_arguments(spark, lake, tmp_path, args, expected):
    """The lake has no partition from 2026-11-03 to 2026-11-29: a run that honours its window stops at the read with
    the window's days in the error, before any step writes (a run ignoring it would fail on the corrupt file)."""
    from ml_constructs.glue_etl.runtime import pipeline
    from stacks.mapping import etl_spec

    run_time = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    params = EtlParams.from_args({"raw_format": "json", **args})
    with pytest.raises(NoPartitionsInWindowError, match=expected):
        pipeline.run(spark, str(lake) + "/", str(tmp_path / "curated") + "/", etl_spec(), params, run_time=run_time)
    assert not (tmp_path / "curated").exists()


def test_the_report_says_which_window_partitions_files_and_rows_were_read(spark, lake):
    from ml_constructs.glue_etl.runtime.pipeline import window_report

    days = (date(2026, 11, 1), date(2026, 11, 30))
    df = _read(spark, lake, "2026-11-01", "2026-11-30")
    per_day = {"2026-11-01": 2, "2026-11-02": 3, "2026-11-30": 4}  # the rows written per day (DAYS)
    report = window_report(days, per_day, df)
    assert report == {
        "start": "2026-11-01",
        "end": "2026-11-30",
        "days": 30,  # November, both ends included
        "meaning": "dt= partitions (the event's UTC date) from start to end, both inclusive",
        "partitions": per_day,
        "files": 3,  # one file per partition
        "rows": 9,
    }


def test_the_report_of_a_whole_lake_run_records_every_partition(json_run, raw_data):
    window = json_run.report["input"]["window"]
    assert (window["start"], window["end"], window["days"]) == (None, None, 0)
    assert window["rows"] == json_run.report["input"]["rows_in"] == sum(window["partitions"].values())
    by_day = Counter(event_date(e) for e in raw_data.events)
    assert set(window["partitions"]) == set(by_day)
    # every day holds its generated events; 2026-11-21 also the file of deliberately bad lines
    assert all(window["partitions"][day] == n for day, n in by_day.items() if day != "2026-11-21")
    assert window["files"] == 2 * len(by_day) + 1  # two files per day (write_raw_json) and the bad-lines file
