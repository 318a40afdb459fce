"""The training window: which ``dt=`` partitions of the raw zone a run reads, as one path Spark and Glue both glob.

The raw zone is ``<raw_path>/dt=YYYY-MM-DD/<files>``, ``dt`` being the event's own UTC date (Firehose's dynamic
partitioning takes it from ``event_time[0:10]``; see the streaming construct). A window ``[start, end]`` (both
inclusive) is the partitions whose ``dt`` lies inside it.

Why a glob of the in-window prefixes rather than a filter on the discovered ``dt`` column: both read only the
in-window files (a filter on a partition column is a ``PartitionFilters`` entry of the scan), but Spark builds its
file index before it filters, by listing *every* partition directory under the path it is given. On S3 that is at
least one LIST request per day of the lake's age, on every run. With the glob, Hadoop's ``globStatus`` lists
``<raw_path>`` once (the ``dt=`` prefixes, 1,000 per LIST page) and Spark lists the files of the matched
partitions only: the listing, like the read, stays proportional to the window. ``basePath`` keeps ``dt`` a column.

The pattern names whole years (``2026-*``) and whole months (``2026-11-*``) where the window covers them and single
days elsewhere, so even a 100-year window is a few hundred characters. A day without a partition is no error (no
events that day); a window without any partition is (``NoPartitionsInWindowError``).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta


class NoPartitionsInWindowError(ValueError):
    """No ``dt=`` partition of the raw zone lies inside the window."""


def day_patterns(start: date, end: date) -> list[str]:
    """Glob patterns for the ``dt`` values ``start .. end`` (inclusive): whole years, whole months, then days."""
    if start > end:
        raise ValueError(f"the window starts {start} after it ends {end}")
    patterns: list[str] = []
    day = start
    while day <= end:
        year_end = date(day.year, 12, 31)
        month_end = date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])
        if (day.month, day.day) == (1, 1) and year_end <= end:
            patterns.append(f"{day.year:04d}-*")
            last = year_end
        elif day.day == 1 and month_end <= end:
            patterns.append(f"{day.year:04d}-{day.month:02d}-*")
            last = month_end
        else:
            patterns.append(day.isoformat())
            last = day
        if last == date.max:
            break
        day = last + timedelta(days=1)
    return patterns


def window_glob(raw_path: str, start: date, end: date, partition_column: str = "dt") -> str:
    """``<raw_path>/dt={p1,p2,...}``: the one path that names exactly the window's partitions (Hadoop glob)."""
    patterns = day_patterns(start, end)
    alternatives = patterns[0] if len(patterns) == 1 else "{" + ",".join(patterns) + "}"
    return f"{raw_path.rstrip('/')}/{partition_column}={alternatives}"


def partition_of(path: str, partition_column: str = "dt") -> str | None:
    """The ``dt`` value of a file path (``.../dt=2026-11-20/part.gz`` -> ``2026-11-20``), None outside one."""
    marker = f"/{partition_column}="
    if marker not in path:
        return None
    return path.rsplit(marker, 1)[1].split("/", 1)[0]
