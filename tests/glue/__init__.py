"""Tests of the Glue ETL job: the transforms on local PySpark 3.5, and the job script with fake awsglue."""
