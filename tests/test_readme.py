"""The README promises two commands; CI must run the same test command the README gives."""

import os
import subprocess
import sys
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
    ahead = [line for line in ci if line.startswith("TESTS_CLOCK_AHEAD_DAYS=")]
    # An absolute path: the processes tests start in other folders must find it too.
    assert ahead == [
        'TESTS_CLOCK_AHEAD_DAYS=365 PYTHONPATH="$PWD/tests/clock_ahead" .venv/bin/python -m pytest -n 2'
    ]


def test_the_year_ahead_run_moves_the_clock_of_every_process_it_starts() -> None:
    script = "from digest.core.clock import utc_now; import time; print(utc_now().timestamp(), time.time())"

    def clocks(**extra: str) -> list[float]:
        env = {key: value for key, value in os.environ.items() if key != "TESTS_CLOCK_AHEAD_DAYS"}
        shown = subprocess.run(
            [sys.executable, "-c", script], env={**env, **extra}, capture_output=True, text=True
        )
        return [float(value) for value in shown.stdout.split()]

    real, _ = clocks()
    ahead, ahead_by_time = clocks(
        TESTS_CLOCK_AHEAD_DAYS="365", PYTHONPATH=str(ROOT / "tests" / "clock_ahead")
    )
    year = 365 * 24 * 3600
    assert abs(ahead - real - year) < 30
    assert abs(ahead_by_time - ahead) < 5
