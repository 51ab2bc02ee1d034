"""The documentation site builds with warnings as errors, every README link into docs/ lands on a
built page (and heading), the generated references list every config field and every command,
and every `rayprune` command line shown in the README or the docs uses only options the command
has. No Ray, no network: mkdocstrings reads the code statically, the hook imports the schema and
the typer app only."""

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer.main
from pydantic import BaseModel

from rayprune.cli import app
from rayprune.sweep.config.schema import SweepConfig

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\((docs/[^)\s]+)\)")
FENCE = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
COMMAND_LINE = re.compile(r"(?:^|[\s'(])rayprune ([a-z]+)\b([^#']*)")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", ROOT / "mkdocs.yml", "-d", out],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def built_page(site: Path, source: str) -> Path:
    """Where MkDocs (use_directory_urls) puts docs/<source>: a.md -> a/index.html,
    index.md and README.md -> their folder's index.html, anything else as it is."""
    path = Path(source)
    if path.suffix != ".md":
        return site / path
    if path.stem in ("index", "README"):
        return site / path.parent / "index.html"
    return site / path.with_suffix("") / "index.html"


def test_every_readme_link_into_docs_lands_on_a_built_page(site):
    links = LINK.findall((ROOT / "README.md").read_text())
    assert len(links) > 10, links
    for link in links:
        source, _, anchor = link.removeprefix("docs/").partition("#")
        page = built_page(site, source)
        assert page.is_file(), f"README links {link}, which the site does not have"
        if anchor:
            assert f'id="{anchor}"' in page.read_text(), f"{link}: no heading {anchor!r}"


def schema_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every YAML key of the schema, dotted, walked from pydantic's model_fields."""
    keys = []
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        keys.append(key)
        inner = [field.annotation, *getattr(field.annotation, "__args__", ())]
        models = [t for t in inner if isinstance(t, type) and issubclass(t, BaseModel)]
        for sub in models:
            keys += schema_keys(sub, key + ".")
    return keys


def test_the_config_reference_lists_every_field_of_the_schema(site):
    html = (site / "reference" / "config" / "index.html").read_text()
    keys = schema_keys(SweepConfig)
    assert {"name", "grid.lambda", "search.keep", "wrappers.path", "ppo.lr"} <= set(keys)
    missing = [k for k in keys if f"<td><code>{k}</code></td>" not in html]
    assert not missing, f"the config reference lacks {missing}"
    assert html.count("<tr>") - html.count("<th>key</th>") == len(keys)  # no row twice


def cli_commands() -> dict[str, click.Command]:
    return dict(typer.main.get_command(app).commands)


def options_of(command: click.Command) -> set[str]:
    return {o for p in command.params for o in p.opts + p.secondary_opts if o.startswith("-")}


def test_the_cli_reference_lists_every_command_and_option(site):
    html = (site / "reference" / "cli" / "index.html").read_text()
    commands = cli_commands()
    assert {"sweep", "resume", "best", "report", "eval", "export", "ui"} <= set(commands)
    for name, command in commands.items():
        assert f'id="rayprune-{name}"' in html, f"no section for rayprune {name}"
        section = html[html.index(f'id="rayprune-{name}"') :]
        for option in options_of(command) - {"--help"}:
            assert option in section, f"rayprune {name} {option} is not in the CLI reference"


def shown_command_lines() -> list[tuple[str, str, str]]:
    """(file, command, rest of the line) for every `rayprune CMD ...` in a bash block."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    found = []
    for page in pages:
        for block in FENCE.findall(page.read_text()):
            for line in block.replace("\\\n", " ").splitlines():
                for command, rest in COMMAND_LINE.findall(line):
                    found.append((page.relative_to(ROOT).as_posix(), command, rest))
    return found


def test_every_command_shown_uses_only_options_it_has():
    commands = cli_commands()
    shown = shown_command_lines()
    assert {c for _, c, _ in shown} >= {"sweep", "best", "eval", "export", "report"}
    for page, command, rest in shown:
        assert command in commands, f"{page}: rayprune {command} is no command"
        used = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", rest))
        unknown = used - options_of(commands[command])
        assert not unknown, f"{page}: rayprune {command} has no option {sorted(unknown)}"
