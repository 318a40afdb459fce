"""The Glue job script: parse the job arguments, start the job, run the pipeline, commit. No logic here.

The only module that imports ``awsglue``; everything it runs is tested on a local Spark session. Glue gets the
package as a zip in ``--extra-py-files`` whose entries keep their repository path, so the imports below are
the same in Glue and in the repository (docs/glue-etl.md, "The job").

Job arguments (see ``contract.job_arguments``, which builds them for the CDK construct):

- required: ``--raw_path`` (s3://.../events/), ``--curated_path`` (s3://.../<curated prefix>/),
  ``--etl_spec`` (JSON from ``EtlSpec.to_json()``); Glue adds ``--JOB_NAME``;
- optional, with defaults in ``EtlParams``: ``--raw_format``, ``--split_fractions``, ``--split_seed``,
  ``--impute_method``, ``--ridge``, ``--outlier_k``, ``--outlier_mode``, ``--n_bins``,
  ``--rebalance_ratio``, ``--rebalance_seed``, ``--csv_files``, ``--canonical_partitions``, ``--min_positives``,
  ``--future_tolerance_minutes``, ``--window_days``, ``--window_end`` (the training workflow passes the last two
  on each run), and ``--bias_facets`` (comma-separated facets of the pre-training bias report).

``Job.init``/``Job.commit`` frame the run as Glue expects (commit is what advances job bookmarks). The
pipeline reads with ``spark.read``, which bookmarks do not track, and rebuilds every output on each run from the
raw records of its training window: the ``dt=`` partitions of the last ``--window_days`` days up to
``--window_end`` (only those are listed and read), or the whole raw zone with ``--window_days 0``. Fitting on the
whole training split of the window requires the rebuild; the window keeps its cost flat as the lake grows.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

from awsglue.context import GlueContext
from awsglue.job import Job
from awsglue.utils import getResolvedOptions
from pyspark.context import SparkContext

from ml_constructs.glue_etl.runtime import pipeline
from ml_constructs.glue_etl.runtime.contract import job_argument_names


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the job with ``argv`` (default ``sys.argv``); return the ETL report."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    argv = list(sys.argv if argv is None else argv)
    args = getResolvedOptions(argv, job_argument_names(argv))
    glue_context = GlueContext(SparkContext.getOrCreate())
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)
    report = pipeline.run_from_args(glue_context.spark_session, args)
    job.commit()
    return report


if __name__ == "__main__":
    main()
