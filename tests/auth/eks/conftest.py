"""Fixtures for the EKS auth tests: a loopback moto server and clean AWS environments (aws_env.py)."""

from aws_env import aws_cli, ca_pem, empty_aws_files, moto_env, moto_url, no_credentials_env, static_env

__all__ = [
    "aws_cli",
    "ca_pem",
    "empty_aws_files",
    "moto_env",
    "moto_url",
    "no_credentials_env",
    "static_env",
]
