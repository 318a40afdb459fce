"""Tests of the Glue ETL job: its steps on local PySpark 3.5, and the job script with fake awsglue."""
