"""SageMaker training of the worked example: the Step Functions workflow and the code it runs.

- ``construct``: ``TrainingPipeline``, the workflow's composition (its states in the order they run, the state
  machine, the schedule) and its props.
- ``states``: the state builders (SageMaker, Glue, Lambda and SNS tasks, each with a timeout, Retry and Catch).
- ``permissions``: the job role's, the evaluation function's and the workflow role's grants.
- ``runtime/``: the evaluation Lambda function's code (``handler.py``, ``metrics.py``), shipped as that folder.

Nothing is imported here: the Lambda code and its tests must not pull in aws_cdk.
"""
