"""The lake's Athena named queries, run on local Spark SQL over the worked example's events as Firehose lays them out.

The generator's command lines date the events relative to the day they run (the 3 days before today), so the daily
count of the last 7 days finds them on any day. Athena speaks Trino SQL; the one difference these queries hit is
the pattern language of ``date_format`` (``'%Y-%m-%d'`` in Trino, ``'yyyy-MM-dd'`` in Spark): ``spark_sql`` swaps it
and nothing else, and the test checks that swapping it back gives the shipped text.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from ml_constructs.glue_etl.athena import query_texts
from ml_constructs.glue_etl.crawlers import CURATED_TABLE_NAME
from ml_constructs.streaming.construct import RAW_TABLE_NAME
from tests.glue.conftest import event_date, spark_rows
from worked_example.generator import generate_events, relative_start
from worked_example.schema import FIELDS

#: Trino -> Spark SQL, the only substitutions made to the shipped queries.
SUBSTITUTIONS = {"'%Y-%m-%d'": "'yyyy-MM-dd'"}
N = 300  # spread evenly over 3 days: 100 events per day


def spark_sql(name: str, today: date | None = None) -> str:
    """The shipped query as Spark SQL; ``today`` replaces ``current_date`` (a date other than the machine's)."""
    sql = query_texts(RAW_TABLE_NAME)[name][1]
    for trino, spark in SUBSTITUTIONS.items():
        sql = sql.replace(trino, spark)
    return sql if today is None else sql.replace("current_date", f"DATE '{today.isoformat()}'")


def register_raw(spark, events) -> None:
    """The raw table as the Data Catalog declares it: the schema's columns and types, and ``dt``, the event's UTC
    date as Firehose partitions it, a string (the rows in memory: what Athena reads from the files is the ETL
    tests' subject, not this one's)."""
    ddl = ", ".join(f"{f.name} {f.type}" for f in FIELDS) + ", dt string"
    spark.createDataFrame(spark_rows(events), ddl).createOrReplaceTempView(RAW_TABLE_NAME)


def test_the_spark_text_is_the_shipped_query_modulo_the_date_pattern():
    shipped = query_texts(RAW_TABLE_NAME)["RawDailyCount"][1]
    translated = spark_sql("RawDailyCount")
    assert translated != shipped  # the pattern is there to swap
    for trino, spark in SUBSTITUTIONS.items():
        translated = translated.replace(spark, trino)
    assert translated == shipped
    assert spark_sql("RawClassBalance") == query_texts(RAW_TABLE_NAME)["RawClassBalance"][1]  # nothing to swap


def test_on_today_s_date_the_daily_count_finds_the_3_days_of_events_and_both_classes(spark):
    today = spark.sql("SELECT current_date() AS d").first()["d"]  # Spark's own today (a UTC session)
    events = list(generate_events(N, seed=11, start=relative_start(today)))  # what the command lines send today
    register_raw(spark, events)
    rows = [r.asDict() for r in spark.sql(spark_sql("RawDailyCount")).collect()]
    days = [(today - timedelta(days=n)).isoformat() for n in (3, 2, 1)]
    frauds = Counter(event_date(e) for e in events if e["is_fraud"])  # the labels the generator drew, per day
    assert rows == [{"dt": day, "events": N // 3, "frauds": frauds[day]} for day in days]

    rows = spark.sql(spark_sql("RawClassBalance")).collect()
    balance = {r["is_fraud"]: (r["events"], float(r["pct"])) for r in rows}
    positives = sum(frauds.values())
    negatives = N - positives  # percentages of 300 events end in .00, .33 or .67: no rounding tie
    assert balance == {0: (negatives, round(100 * negatives / N, 2)), 1: (positives, round(100 * positives / N, 2))}


def test_on_a_given_date_only_the_events_of_its_last_7_days_are_counted(spark):
    given = date(2027, 3, 1)  # current_date replaced by this date
    recent = list(generate_events(N, seed=11, start=relative_start(given)))
    old = list(generate_events(N, seed=12, start=relative_start(given - timedelta(days=30))))  # a month before
    register_raw(spark, recent + old)
    rows = [(r["dt"], r["events"]) for r in spark.sql(spark_sql("RawDailyCount", given)).collect()]
    assert rows == [("2027-02-26", N // 3), ("2027-02-27", N // 3), ("2027-02-28", N // 3)]


def test_the_curated_class_balance_has_both_classes_in_every_split(spark, json_run):
    prepared = json_run.curated / "prepared"
    spark.read.option("basePath", str(prepared)).parquet(str(prepared)).createOrReplaceTempView(CURATED_TABLE_NAME)
    curated = spark.sql(query_texts(RAW_TABLE_NAME)["CuratedClassBalance"][1]).collect()
    expected = [(split, label) for split in ("test", "train", "validation") for label in (0, 1)]
    assert [(r["split"], r["is_fraud"]) for r in curated] == expected
    assert all(r["rows"] > 0 for r in curated)
