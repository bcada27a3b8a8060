"""Test helpers moved out of conftest.py, shared by the tests that need them."""

from typer.testing import CliRunner

from digest.cli import app


class Digest:
    """Runs ``digest`` commands in-process with a given environment."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.runner = CliRunner()

    def __call__(self, *args: str, ok: bool = True) -> "Result":
        result = self.runner.invoke(app, list(args), env=self.env, catch_exceptions=False)
        outcome = Result(result.exit_code, result.stdout, result.stderr)
        if ok and result.exit_code != 0:
            raise AssertionError(f"digest {' '.join(args)} exited {result.exit_code}: {result.stderr}")
        return outcome


class Result:
    def __init__(self, exit_code: int, stdout: str, stderr: str) -> None:
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
