"""Data-drift monitoring of the real-time endpoint: the open-source replacement for SageMaker Model Monitor.

Amazon SageMaker Model Monitor is closed to new customers (existing customers keep it), so a sandbox account
created today cannot create monitoring schedules. This package does the data-quality part of Model Monitor's
job with plain code and writes the same files, so the exam's concepts (baseline, constraints, violations,
CloudWatch metrics and alarms) stay visible:

- ``analyzer.py``: pure standard-library Python. ``baseline()`` turns the training features into
  ``statistics.json`` and ``constraints.json``; ``analyze()`` streams the endpoint's data-capture JSON Lines and
  returns ``constraint_violations.json``, the current ``statistics.json`` and per-feature metric values.
- ``drift_job.py``: the thin Lambda entry (boto3): lists the capture objects of the last window in S3, runs
  ``analyze``, writes the reports to S3 and puts CloudWatch custom metrics for the alarm.

The code asset of the Lambda function is this directory alone: ``drift_job`` imports ``analyzer`` as a
sibling module when the ``ml_constructs`` package is not there.
"""
