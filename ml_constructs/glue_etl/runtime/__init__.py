"""What the Glue job runs, shipped whole: ``glue_entry`` (the job's script, the only ``awsglue`` import), the
output ``contract`` (no pyspark: synth imports it), the ``steps``, the ``fitting`` code and the ``pipeline``
that chains them. Import-free, so that importing the contract loads nothing else."""
