"""The README promises two commands; CI must run the same test command the README gives."""

import os
import subprocess
import sys
import time
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


def test_ci_runs_the_suite_again_a_year_ahead() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    ahead = [line for line in ci if line.startswith("DIGEST_CLOCK_AHEAD_DAYS=")]
    assert ahead == ["DIGEST_CLOCK_AHEAD_DAYS=365 PYTHONPATH=tests/clock_ahead .venv/bin/python -m pytest"]


def test_the_year_ahead_run_moves_the_clock_of_every_process_it_starts() -> None:
    env = dict(os.environ, DIGEST_CLOCK_AHEAD_DAYS="365", PYTHONPATH=str(ROOT / "tests" / "clock_ahead"))
    script = "from digest.core.clock import utc_now; import time; print(utc_now().timestamp(), time.time())"
    before = time.time()
    shown = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    seen, seen_by_time = (float(value) for value in shown.stdout.split())
    year = 365 * 24 * 3600
    assert before + year - 5 < seen < time.time() + year + 5
    assert abs(seen_by_time - seen) < 5
