"""The drift job's Lambda code. This whole folder is the function's code asset (its code root): the handler
``drift_job.handler`` is the package ``drift_job``, which imports its ``analyzer`` relatively, so the same files
run in Lambda and in the repository."""
