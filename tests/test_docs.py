"""The documentation cannot drift from the code: its links resolve, every setting and command it names
exists, the settings page is what the settings class generates, and the architecture page names every
layer that import-linter enforces."""

import re
import shlex
import tomllib
from pathlib import Path

import pytest
from pydantic.fields import FieldInfo

from digest.core.durations import format_duration, parse_duration
from digest.devtools.settings_reference import COMMAND, reference, row, variables
from tests.support import ROOT, cli_refusal

DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
# Read by the test suite, not by digest: the README's test section documents them.
TEST_ONLY_VARIABLES = {"DIGEST_TEST_POSTGRES_URL", "DIGEST_UPDATE_BASELINES", "DIGEST_SHARED_CORPORA"}

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
VARIABLE = re.compile(r"\bDIGEST_[A-Z0-9_]*[A-Z0-9](?:_\*)?")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
SHELL_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


def prose(page: Path) -> str:
    """The page without its fenced code blocks (links inside them are examples, not links)."""
    return FENCE.sub("", page.read_text(encoding="utf-8"))


def anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {anchor(line.lstrip("#")) for line in prose(page).splitlines() if line.startswith("#")}


def broken(page: Path, target: str) -> str | None:
    """Why the relative link ``target`` of ``page`` leads nowhere, or None when it resolves."""
    path, _, fragment = target.partition("#")
    linked = (page.parent / path).resolve() if path else page
    if not linked.exists():
        return f"{page.relative_to(ROOT)} links to {target}, which does not exist"
    if fragment and linked.suffix == ".md" and fragment not in anchors(linked):
        return f"{page.relative_to(ROOT)} links to {target}: {linked.name} has no such heading"
    return None


def test_relative_links_resolve() -> None:
    targets = [(page, target) for page in PAGES for target in LINK.findall(prose(page))]
    relative = [(page, target) for page, target in targets if not re.match(r"[a-z]+:", target)]
    assert len(relative) > 20, "the pages link to each other"
    problems = [problem for page, target in relative if (problem := broken(page, target))]
    assert not problems, problems


def test_every_setting_named_in_the_docs_exists() -> None:
    settings = set(variables())
    unknown = []
    for page in PAGES:
        for name in set(VARIABLE.findall(page.read_text(encoding="utf-8"))):
            if name.endswith("_*"):
                known = any(setting.startswith(name[:-1]) for setting in settings)
            else:
                known = name in settings or name in TEST_ONLY_VARIABLES
            if not known:
                unknown.append(f"{page.relative_to(ROOT)}: {name}")
    assert not unknown, f"not settings of digest/config.py: {unknown}"


def test_the_test_only_variables_are_read_by_the_tests() -> None:
    tests = "".join(path.read_text(encoding="utf-8") for path in (ROOT / "tests").glob("**/*.py"))
    assert all(name in tests for name in TEST_ONLY_VARIABLES)


def test_configuration_page_is_generated_from_the_settings() -> None:
    written = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert written == reference(), f"docs/configuration.md is out of date: run {COMMAND}"
    assert all(f"`{name}`" in written for name in variables())


def command_lines(page: Path) -> list[str]:
    """``digest ...`` command lines in a page: shell blocks' lines and code spans that start so."""
    text = page.read_text(encoding="utf-8")
    blocks = [block.replace("\\\n", " ") for block in SHELL_BLOCK.findall(text)]
    lines = [line for block in blocks for line in block.splitlines()]
    lines += CODE_SPAN.findall(FENCE.sub("", text))
    return [line.strip() for line in lines if line.strip().split(" ")[0] in ("digest", "digestctl")]


@pytest.mark.parametrize("page", PAGES[1:], ids=lambda page: page.name)
def test_every_command_in_the_docs_exists(page: Path) -> None:
    refused = {}
    for line in command_lines(page):
        words = shlex.split(line, comments=True)[1:]
        for operator in (">", "|", "&&", ";"):
            words = words[: words.index(operator)] if operator in words else words
        refusal = cli_refusal(words)
        if refusal is not None:
            refused[line] = refusal.strip().splitlines()[-2:]
    assert not refused, refused


def layered_modules() -> set[str]:
    """The modules the layers contract of pyproject.toml names."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(contract["layers"] for contract in contracts if contract["type"] == "layers")
    return {name.strip() for layer in layers for name in re.split(r"[|:]", layer)}


def test_the_layers_contract_covers_every_module() -> None:
    package = ROOT / "digest"
    top = {
        f"digest.{path.stem}"
        for path in package.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").is_file()
    }
    outside = sorted(top - layered_modules())
    assert not outside, (
        f"the layers contract of pyproject.toml leaves out {outside}: lint-imports cannot see them"
    )


def test_architecture_names_every_enforced_layer() -> None:
    modules = layered_modules()
    page = (DOCS / "architecture.md").read_text(encoding="utf-8")
    missing = sorted(module for module in modules if f"`{module}`" not in page)
    assert not missing, f"docs/architecture.md does not describe the layers {missing} of pyproject.toml"


def test_a_setting_without_a_docstring_stops_the_page() -> None:
    with pytest.raises(ValueError, match="new_thing has no docstring"):
        row("new_thing", FieldInfo(annotation=int, default=1))


@pytest.mark.parametrize("written", ["0", "45s", "2m", "1h30m", "7d", "1d2h3m4s"])
def test_durations_are_shown_as_they_are_written(written: str) -> None:
    assert format_duration(parse_duration(written)) == written
