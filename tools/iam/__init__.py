"""Offline IAM check: every call a principal of the app makes, evaluated against the synthesized policies.

``python -m tools.iam`` (``make verify-iam``); how it works and what it cannot see: docs/iam-check.md.

- ``cfn``, ``cfn_types``: CloudFormation tokens resolved to the values of one deploy (``arns.Environment``);
- ``deployment``: roles with their identity and trust policies, resource and VPC endpoint policies;
- ``declared`` (with ``rows_*``): what AWS services do on a role's behalf, one documented row per kind of call;
- ``calls``: the call format, shared with recorded runs (JSON lines);
- ``record``: records what our own handlers call in the local sandbox, under their roles (``recorded/``);
- ``evaluate`` + ``simulate.mjs``: one Node process per batch runs @cloud-copilot/iam-simulate;
- ``check``, ``report``: denied calls, unused grants, mutations; ``__main__``: the CLI;
- ``allowances``: the grants kept on purpose although no call uses them, each with its reason.
"""
