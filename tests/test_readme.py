"""The README promises two commands; CI must run the same test command the README gives."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def commands_in(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("python3 -m venv .venv && ")]


def test_ci_runs_the_readme_test_command() -> None:
    readme = commands_in((ROOT / "README.md").read_text(encoding="utf-8"))
    ci = commands_in((ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    assert len(readme) == 2, "the quick start and the test command"
    assert ci == [readme[1]]
    assert readme[0].endswith("digest demo")
    assert "pytest" in readme[1]
