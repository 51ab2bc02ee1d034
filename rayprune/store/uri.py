"""Tracking URIs without secrets: credentials in `http://user:token@host` move to the variables
MLflow reads them from (MLFLOW_TRACKING_USERNAME / _PASSWORD), so no message, sweep record or
report ever holds them. Light (no mlflow import): the CLI calls it while parsing options."""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit, urlunsplit

USERNAME, PASSWORD = "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"


def without_credentials(uri: str) -> str:
    """The URI with any user:password@ removed."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))


def take_credentials(uri: str | None) -> str | None:
    """The URI without credentials; the credentials it held go to MLflow's variables (a value
    the user already set there wins)."""
    if uri is None:
        return None
    parts = urlsplit(uri)
    if parts.username is not None:
        os.environ.setdefault(USERNAME, unquote(parts.username))
    if parts.password is not None:
        os.environ.setdefault(PASSWORD, unquote(parts.password))
    return without_credentials(uri)
