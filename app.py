#!/usr/bin/env python3
"""Composes the stacks from the config. The only module that reads CDK context or the environment.

Run it through the CDK CLI (``npx cdk synth``, as ``make synth`` does) or directly (``python app.py
[-c key=value ...]``): run directly, it reads the context of ``cdk.json`` itself, as the CLI would, and
writes the cloud assembly to ``cdk.out``. A bad configuration value prints one line per problem (the key,
the value, what is allowed) and exits with status 2; nothing is synthesized.

The tests build their apps through ``create_app`` too, so they check exactly what a user synthesizes.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aws_cdk as cdk

    from ml_config import AppConfig
    from stacks import Stacks

HERE = Path(__file__).resolve().parent
USAGE_EXIT = 2


def cdk_json_context() -> dict[str, Any]:
    """The context block of cdk.json: feature flags and the default profile and settings."""
    return dict(json.loads((HERE / "cdk.json").read_text())["context"])


def parse_context_args(argv: list[str]) -> dict[str, str]:
    """``-c/--context key=value`` pairs, as the CDK CLI takes them (values stay strings, as the CLI's do)."""
    pairs: dict[str, str] = {}
    args = iter(argv)
    for arg in args:
        if arg in ("-c", "--context"):
            pair = next(args, None)
        elif arg.startswith("--context="):
            pair = arg.split("=", 1)[1]
        else:
            raise SystemExit(f"usage: python app.py [-c key=value ...] (unexpected argument {arg!r})")
        if pair is None or "=" not in pair:
            raise SystemExit(f"usage: python app.py [-c key=value ...] (expected key=value, got {pair!r})")
        key, value = pair.split("=", 1)
        pairs[key] = value
    return pairs


def cli_context(environ: Mapping[str, str]) -> dict[str, Any]:
    """The context the CDK CLI hands to the app: CDK_CONTEXT_JSON, or a file when it is too large for the
    environment (the CLI's CONTEXT_OVERFLOW_LOCATION_ENV contract, which cdk.App reads the same way)."""
    context: dict[str, Any] = json.loads(environ.get("CDK_CONTEXT_JSON") or "{}")
    overflow = environ.get("CONTEXT_OVERFLOW_LOCATION_ENV")
    if overflow:
        context.update(json.loads(Path(overflow).read_text()))
    return context


def create_app(
    overrides: Mapping[str, Any] | None = None,
    *,
    outdir: str | None = None,
    under_cli: bool = False,
    environ: Mapping[str, str] | None = None,
    **app_props: Any,
) -> tuple[cdk.App, AppConfig, Stacks]:
    """Build the app: cdk.json context plus ``overrides`` (or the CLI's context), validated, then the stacks.

    The configuration is validated before the CDK app exists, so a bad value costs no jsii start-up and can
    choose App settings (the built-in CloudFormation validator). Raises ``ml_config.ConfigError``.
    """
    from ml_config import load_config

    environ = os.environ if environ is None else environ
    context = cli_context(environ) if under_cli else {**cdk_json_context(), **(overrides or {})}
    config = load_config(context)

    import aws_cdk as cdk

    from stacks import build_app

    app_props.setdefault("builtin_cloud_formation_validation", config.synth.cloudformation_validation)
    # Under the CLI, cdk.App reads the context and the output directory from the CLI's environment itself.
    app = cdk.App(**app_props) if under_cli else cdk.App(context=context, outdir=outdir, **app_props)

    # Environment-agnostic unless an account or region is asked for; a half-given environment is completed
    # from the CLI's defaults (the credentials' account, the profile's region).
    env = None
    if config.account or config.region:
        env = cdk.Environment(
            account=config.account or environ.get("CDK_DEFAULT_ACCOUNT"),
            region=config.region or environ.get("CDK_DEFAULT_REGION"),
        )
    return app, config, build_app(app, config, env=env)


def main(argv: list[str]) -> int:
    from ml_config import ConfigError

    under_cli = "CDK_OUTDIR" in os.environ
    overrides = {} if under_cli else parse_context_args(argv)
    try:
        app, _, _ = create_app(overrides, outdir=None if under_cli else str(HERE / "cdk.out"), under_cli=under_cli)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return USAGE_EXIT
    try:
        app.synth()
    except RuntimeError as exc:  # cdk-nag or another validation plugin refused the app
        if "ValidationFailed" not in str(exc):
            raise
        print(validation_summary(Path(app.outdir) / "validation-report.json"), file=sys.stderr)
        return 1
    return 0


def validation_summary(report_path: Path) -> str:
    """The validation report as one line per finding (rule, construct), instead of a jsii stack trace."""
    report = json.loads(report_path.read_text())
    lines = [
        f"compliance: {violation['ruleName']}: {violation['description']} at {construct['constructPath']}"
        for plugin in report.get("pluginReports", [])
        for violation in plugin.get("violations", [])
        for construct in violation.get("violatingConstructs", [])
    ]
    return "\n".join([*lines, f"synthesis refused: {len(lines)} finding(s); full report: {report_path}"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
