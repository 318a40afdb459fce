"""SageMaker training of the worked example: the workflow construct and the code it runs.

- ``construct``: the Step Functions workflow (ETL -> built-in XGBoost training -> batch transform of the
  validation split -> evaluation -> quality gate -> model registry), with its IAM and KMS wiring.
- ``evaluate/``: the evaluation Lambda function's code asset (``handler.py``, the thin AWS entry, and
  ``metrics.py``, the pure-Python metrics and gate), shipped as that directory alone.

The image table the workflow uses has a home of its own (``sagemaker_images``: the serving and monitoring
stages use it too), and the hyperparameters and gate thresholds are configuration (``ml_config``).
Nothing is imported here: the Lambda asset and the metrics tests must not pull in aws_cdk.
"""
