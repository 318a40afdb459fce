"""Typed, validated configuration shared by app.py, the stacks and the tests (never imports aws_cdk)."""

from ml_config.config import AppConfig, ConfigError, load_config

__all__ = ["AppConfig", "ConfigError", "load_config"]
