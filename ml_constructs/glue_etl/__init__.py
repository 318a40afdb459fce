"""The Glue ETL job of the worked example: data preparation between the raw and the curated zone.

Modules (this package file stays import-free, so importing one of them costs nothing extra):

- ``transforms``: the pure PySpark transforms (no ``awsglue``, no ``aws_cdk``), plus ``EtlSpec`` and
  ``EtlParams``, the job arguments' typed form. Shipped to Glue with ``--extra-py-files``.
- ``glue_entry``: the thin Glue job script, the only module that imports ``awsglue``.
"""
