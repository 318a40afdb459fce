"""A local Spark session configured like a Glue 5 worker, for everything that runs the ETL off AWS:
the tests, the default-model builder, the benchmark (and the local sandbox). Never shipped to Glue."""

from __future__ import annotations

import os
import sys
from typing import Any


def local_spark(app_name: str, *, shuffle_partitions: int = 4, driver_memory: str | None = None) -> Any:
    """``local[2]`` (this project's machines have 2 cores), UTC as Glue runs, no UI, quiet logs.

    Spark 3.5 keeps ANSI mode off, as in Glue 5, so a bad cast gives null: what the quarantine detects.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(f"local[{min(os.cpu_count() or 1, 2)}]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
    )
    if driver_memory:
        builder = builder.config("spark.driver.memory", driver_memory)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
