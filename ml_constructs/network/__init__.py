"""The isolated VPC the SageMaker jobs run in: ``construct.IsolatedNetwork``."""
