"""Tracking URIs without secrets, and only those that can work: credentials in
`http://user:token@host` move to the variables MLflow reads them from
(MLFLOW_TRACKING_USERNAME / _PASSWORD), so no message, sweep record or report ever holds them;
a URI of a kind rayprune cannot use, or mistyped, is one line before anything starts
(tracking_uri_option). Light (no mlflow import): the CLI calls it while parsing options."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from rayprune.errors import CommandError, NotFound

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


SUPPORTED = (
    "an MLflow server (http://HOST:PORT or https://HOST), a SQLite store "
    "(sqlite:///PATH/mlflow.db) or a database MLflow stores runs in (postgresql://, mysql://, "
    "mssql://)"
)
DATABASES = ("postgresql", "mysql", "mssql")  # MLflow's SQLAlchemy stores beside sqlite
DATABRICKS = {"databricks", "databricks-uc", "uc"}


def tracking_uri_option(uri: str | None) -> str | None:
    """--tracking-uri as every command takes it (the option's callback): credentials moved out
    (take_credentials), then checked (check_tracking_uri); None stays None."""
    if uri is None:
        return None
    try:
        _ = urlsplit(uri).port  # parses the netloc: a bad IPv6 host or a port not 0-65535 raises
    except ValueError as err:  # the URI itself is not shown: it may hold a secret
        raise CommandError(f"--tracking-uri is not a URI: {err}") from None
    return check_tracking_uri(take_credentials(uri))


def check_tracking_uri(uri: str) -> str:
    """`uri` (without credentials) if rayprune can track to it, with its scheme in lower case
    and a SQLite store's relative path made absolute (a trial runs in a folder of its own);
    else one CommandError saying what is wrong and what would work."""
    if not uri.strip():
        raise CommandError(f"--tracking-uri is empty: pass {SUPPORTED}")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    uri = scheme + uri[len(parts.scheme) :]
    if scheme in ("http", "https"):
        return _checked_server(uri, parts)
    if scheme == "sqlite":
        return _checked_sqlite(uri)
    if scheme.partition("+")[0] in DATABASES:
        return _checked_database(uri)
    if DATABRICKS & {scheme, uri}:  # MLflow's names for Databricks' workspaces
        raise CommandError(
            f"--tracking-uri {uri!r}: rayprune does not track to Databricks; pass {SUPPORTED}"
        )
    if scheme in ("", "file") or len(scheme) == 1:  # a path (C: on Windows), or file:
        raise CommandError(
            f"--tracking-uri {uri!r} is a folder: MLflow's file store is in maintenance mode "
            f"and rayprune does not track to it; pass {SUPPORTED}"
        )
    raise CommandError(f"--tracking-uri {uri!r} is not a store rayprune can use; pass {SUPPORTED}")


def _checked_server(uri: str, parts) -> str:
    if not parts.hostname:
        raise CommandError(f"--tracking-uri {uri!r} names no host: pass http://HOST:PORT")
    if parts.port == 0:
        raise CommandError(f"--tracking-uri {uri!r}: port 0 is not a server's port")
    return uri


def _checked_sqlite(uri: str) -> str:
    prefix = "sqlite:///"
    path, sep, query = uri.removeprefix(prefix).partition("?")
    if not uri.startswith(prefix) or not path or path == ":memory:":
        raise CommandError(
            f"--tracking-uri {uri!r} is not a SQLite file: pass sqlite:///PATH/mlflow.db (an "
            "absolute PATH takes four slashes, sqlite:////abs/path/mlflow.db); an in-memory "
            "store would keep nothing"
        )
    return f"{prefix}{Path(path).absolute()}{sep}{query}"


def _checked_database(uri: str) -> str:
    """A database MLflow stores runs in, when SQLAlchemy and the driver it names are here."""
    try:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        make_url(uri).get_dialect().import_dbapi()
    except (ArgumentError, NoSuchModuleError, ValueError) as err:
        raise CommandError(f"--tracking-uri {uri!r} is not a database URL: {err}") from None
    except ImportError as err:
        raise CommandError(
            f"--tracking-uri {uri!r} needs a database driver that is not installed ({err})"
        ) from None
    return uri


def check_store_exists(tracking_uri: str) -> None:
    """Reading never creates a store (MLflow would make an empty one, folders included): a
    SQLite store the user names must be there."""
    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri.removeprefix("sqlite:///").partition("?")[0])
        if not db.is_file():
            raise NotFound(f"no MLflow store at {db}: run a sweep first, or check --tracking-uri")
