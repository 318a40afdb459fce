"""The worked example that runs through every stack: card-transaction fraud events.

One seeded generator produces realistic tabular events; they travel producer -> Kinesis -> Firehose ->
raw zone -> Glue -> curated zone -> SageMaker -> endpoint -> drift monitoring. Every stage imports the
same schema from here, so the column names, types and the timestamp format are defined exactly once.

Modules (import the one you need; this package file stays import-free so that importing, say,
``worked_example.schema`` from a Glue job or a Lambda handler costs nothing extra):

- ``worked_example.schema``: the ordered field list, Glue column definitions, validation helpers.
- ``worked_example.generator``: ``generate_events(n, seed, ...)`` and ``to_json_line(event)``.
- ``worked_example.producer``: the batched Kinesis producer CLI (``python -m worked_example.producer``).

Nothing in this package imports ``aws_cdk``: it is runtime code, used by tests, tools and AWS jobs.
"""
