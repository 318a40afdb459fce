"""The Glue ETL pipeline of the worked example: data preparation between the raw and the curated zone.

``construct`` (``GlueEtl``) composes ``job``, ``crawlers``, ``athena`` and ``quality``; ``runtime/`` is what the
Glue job runs, shipped whole; ``local`` starts a Glue-like Spark session for everything that runs the job off
AWS. This package file stays import-free, so importing one of them costs nothing extra.
"""
