"""Streaming ingest, Kinesis -> Firehose -> the raw zone: ``construct.StreamingIngest``."""
