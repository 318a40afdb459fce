"""Reusable L3 constructs, one subpackage per logical unit, each with its runtime code beside it.

Not called ``constructs``: a top-level package of that name would shadow the ``constructs`` library that
aws-cdk-lib imports, and every ``import aws_cdk`` would break.
"""
