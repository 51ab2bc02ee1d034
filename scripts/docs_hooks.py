"""MkDocs hook (mkdocs.yml `hooks:`): the config and CLI reference pages, generated at build time
from the pydantic schema and the typer app themselves, so neither can drift from the code.
Neither import pulls in Ray or torch: the schema module imports pydantic and the pruning names,
and rayprune.cli imports each command's dependencies only when the command runs.

Written here rather than with mkdocs-gen-files: the two pages are one function each, and a
hook needs no plugin."""

from __future__ import annotations

import types
import typing
from typing import Any

import click
import typer
from mkdocs.structure.files import File, Files
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

CONFIG_PAGE = "reference/config.md"
CLI_PAGE = "reference/cli.md"


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, CONFIG_PAGE, content=config_reference()))
    files.append(File.generated(config, CLI_PAGE, content=cli_reference()))
    return files


# --- the config reference ---------------------------------------------------------------------


def config_reference() -> str:
    from rayprune.sweep.config.schema import SweepConfig

    lines = [
        "# Config reference",
        "",
        "Every key of a sweep's YAML, generated from the pydantic schema",
        "(`rayprune/sweep/config/schema.py`) when the site is built. Unknown keys, NaN and",
        "infinities are errors; ranges are checked when the config loads. The",
        "[config guide](../guides/config.md) explains the keys by topic.",
        "",
    ]
    lines += model_section(SweepConfig, prefix="", title="Top level")
    return "\n".join(lines) + "\n"


def model_section(model: type[BaseModel], prefix: str, title: str) -> list[str]:
    """A table of `model`'s fields, then a section for each field that is itself a model."""
    lines = [f"## {title}", ""]
    if model.__doc__ and model is not BaseModel:
        lines += [" ".join(model.__doc__.split()), ""]
    lines += ["| key | type | default | description |", "|---|---|---|---|"]
    nested = []
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        if not field.description:
            raise ValueError(f"{model.__name__}.{name} has no Field(description=...)")
        row = (f"`{key}`", type_name(field.annotation), default_of(field), field.description)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
        sub = submodel(field.annotation)
        if sub is not None:
            nested.append((sub, key))
    lines.append("")
    for sub, key in nested:
        lines += model_section(sub, prefix=key + ".", title=f"`{key}`")
    return lines


def submodel(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds directly or in a list (wrappers: list[WrapperSettings])."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def type_name(annotation: Any) -> str:
    """`list[int]`, `'grid' | 'optuna'`, `float | None`: the type as a YAML writer reads it."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is typing.Literal:
        return " | ".join(f"`{value}`" for value in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(arg) for arg in args)
    if origin is not None:
        inner = ", ".join(type_name(arg) for arg in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def default_of(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default is PydanticUndefined else field.default
    if isinstance(value, BaseModel):
        return "see below"
    return f"`{value!r}`" if value is not None else "none"


# --- the CLI reference ------------------------------------------------------------------------


def cli_reference() -> str:
    from rayprune.cli import app

    group = typer.main.get_command(app)
    root = click.Context(group, info_name="rayprune")
    lines = [
        "# CLI reference",
        "",
        "Each command's `--help`, generated from the typer app (`rayprune/cli.py`) when the",
        "site is built. Bad input to any command is one line on stderr and exit code 2.",
        "",
    ]
    for name in group.list_commands(root):
        command = group.get_command(root, name)
        ctx = click.Context(command, info_name=name, parent=root)
        lines += [f"## rayprune {name}", "", "```text", command.get_help(ctx), "```", ""]
    return "\n".join(lines)
