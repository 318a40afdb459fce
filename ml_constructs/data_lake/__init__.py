"""The S3 data lake (zones, lake key, Data Catalog database): ``construct.DataLake``."""
