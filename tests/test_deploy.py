"""The deployment files in deploy/ are checked, not just shown: systemd accepts the units and rates them
hardened, every command they run exists, the settings file names real settings and reads the same to
systemd and the shell, and Caddy accepts its configuration, never passes /metrics or the health routes
from the public site to the app, and checks the app's /readyz itself.

systemd-analyze and caddy come from Debian (.ci/run installs them); without them these tests skip on a
developer's machine and fail on CI."""

import http.client
import http.server
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from digest.config import Settings
from digest.devtools.settings_reference import variables
from tests.support import ROOT, cli_refusal

DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
DROP_IN = DEPLOY / "systemd" / "digest-.service.d" / "hardening.conf"
INSTALLED = "/opt/digest/bin/digest"
CADDYFILE = DEPLOY / "caddy" / "Caddyfile"
PRIVATE = ("/metrics", "/healthz", "/livez", "/readyz")


def tool(name: str) -> str:
    """The path of a command-line tool; a skip without it, except on CI, where it must be installed."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (.ci/run installs it with apt)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def run(*command: str, **options: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, **options)


# systemd


@pytest.fixture
def units(tmp_path: Path) -> Path:
    """The units and their drop-in, running this checkout's digest instead of the installed one."""
    shutil.copytree(DEPLOY / "systemd", tmp_path, dirs_exist_ok=True)
    here = str(Path(sys.executable).parent / "digest")
    for unit in tmp_path.glob("*.service"):
        unit.write_text(unit.read_text(encoding="utf-8").replace(INSTALLED, here), encoding="utf-8")
    return tmp_path


def test_the_units_are_the_web_app_the_scheduler_and_workers() -> None:
    assert [unit.name for unit in UNITS] == [
        "digest-scheduler.service",
        "digest-web.service",
        "digest-worker@.service",
    ]


def test_systemd_accepts_the_units(units: Path) -> None:
    analyze = tool("systemd-analyze")
    result = run(analyze, "verify", *(f"./{unit.name}" for unit in UNITS), cwd=units)
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == "", "systemd-analyze verify warned"


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_the_units_are_hardened(units: Path, unit: Path) -> None:
    """systemd's own exposure score, with the drop-in applied: 2.0 or less on its 0 to 10 scale."""
    analyze = tool("systemd-analyze")
    result = run(analyze, "security", "--offline=yes", "--threshold=20", f"./{unit.name}", cwd=units)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_every_unit_runs_as_the_digest_user_with_the_settings_file(unit: Path) -> None:
    settings = unit.read_text(encoding="utf-8") + DROP_IN.read_text(encoding="utf-8")
    for line in [
        "User=digest",
        "EnvironmentFile=/etc/digest/digest.env",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "KillSignal=SIGTERM",
    ]:
        assert re.search(rf"^{re.escape(line)}$", settings, re.MULTILINE), f"{unit.name}: no {line}"


def unit_commands() -> list[list[str]]:
    lines = [line for unit in UNITS for line in unit.read_text(encoding="utf-8").splitlines()]
    return [shlex.split(line.partition("=")[2]) for line in lines if line.startswith("ExecStart")]


def procfile_commands() -> list[list[str]]:
    lines = (DEPLOY / "Procfile").read_text(encoding="utf-8").splitlines()
    return [shlex.split(line.partition(":")[2].replace("$PORT", "8000")) for line in lines if line.strip()]


def test_every_command_the_units_and_the_procfile_run_exists() -> None:
    commands = unit_commands() + procfile_commands()
    assert len(commands) == 7
    assert all(command[0] in (INSTALLED, "digest") for command in commands), commands
    refused = {" ".join(command): cli_refusal(command[1:]) for command in commands}
    assert not {line: why for line, why in refused.items() if why}, refused


def test_digestctl_runs_digest_as_the_units_do() -> None:
    script = (DEPLOY / "digestctl").read_text(encoding="utf-8")
    assert run("sh", "-n", str(DEPLOY / "digestctl")).returncode == 0
    assert os.access(DEPLOY / "digestctl", os.X_OK)
    assert ". /etc/digest/digest.env" in script
    assert "cd /var/lib/digest" in script
    assert f"runuser -u digest -- {INSTALLED} " in script
    drop_in = DROP_IN.read_text(encoding="utf-8")
    assert "WorkingDirectory=/var/lib/digest" in drop_in
    assert "StateDirectory=digest" in drop_in


# The settings file


def example_lines() -> list[tuple[str, str]]:
    """(variable, value) for every assignment of digest.env.example, commented out or not."""
    text = (DEPLOY / "digest.env.example").read_text(encoding="utf-8")
    return re.findall(r"^#? ?(DIGEST_[A-Z0-9_]+)=(.*)$", text, re.MULTILINE)


def as_systemd_reads(value: str) -> str:
    """EnvironmentFile= takes a single-quoted value verbatim and an unquoted one as it stands."""
    return value[1:-1] if len(value) > 1 and value[0] == value[-1] == "'" else value


def test_every_variable_of_the_example_is_a_setting() -> None:
    named = [name for name, _ in example_lines()]
    assert len(named) > 10
    assert not set(named) - set(variables())


def test_the_shell_reads_the_example_as_systemd_does() -> None:
    """digestctl sources the file that systemd reads: a `$` or a space outside single quotes would make
    the two disagree."""
    script = 'set -a; . "$1"; set +a; env -0'
    shell = run("sh", "-c", script, "sh", str(DEPLOY / "digest.env.example"), env={"PATH": os.defpath})
    read = dict(entry.split("=", 1) for entry in shell.stdout.split("\0") if entry.startswith("DIGEST_"))
    text = (DEPLOY / "digest.env.example").read_text(encoding="utf-8")
    expected = dict(re.findall(r"^(DIGEST_[A-Z0-9_]+)=(.*)$", text, re.MULTILINE))
    assert read == {name: as_systemd_reads(value) for name, value in expected.items()}


def test_the_example_is_a_valid_production_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("DIGEST_")]:
        monkeypatch.delenv(name)
    text = (DEPLOY / "digest.env.example").read_text(encoding="utf-8")
    for name, value in re.findall(r"^(DIGEST_[A-Z0-9_]+)=(.*)$", text, re.MULTILINE):
        monkeypatch.setenv(name, as_systemd_reads(value))
    settings = Settings(_env_file=None)
    settings.check()
    assert settings.env == "production"
    assert settings.email_backend == "sendgrid"


# Caddy


def test_caddy_accepts_the_caddyfile(tmp_path: Path) -> None:
    caddy = tool("caddy")
    home = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
    validated = run(caddy, "validate", "--config", str(CADDYFILE), env={**os.environ, **home})
    assert validated.returncode == 0, validated.stderr
    formatted = run(caddy, "fmt", str(CADDYFILE))
    assert formatted.stdout == CADDYFILE.read_text(encoding="utf-8"), "caddy fmt would change the Caddyfile"


class Upstream(http.server.ThreadingHTTPServer):
    """Stands in for `digest serve`: answers every request and remembers each request target, those
    Caddy passed on from a site apart from its own health checks (which carry no X-Forwarded-For)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), UpstreamHandler)
        self.targets: list[str] = []
        self.health_checks: list[str] = []


class UpstreamHandler(http.server.BaseHTTPRequestHandler):
    server: Upstream

    def do_GET(self) -> None:
        passed_on = "X-Forwarded-For" in self.headers
        (self.server.targets if passed_on else self.server.health_checks).append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "8")
        self.end_headers()
        self.wfile.write(b"upstream")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def point_at(node: object, upstream: str) -> None:
    """Every reverse proxy of an adapted configuration sent to ``upstream``."""
    if isinstance(node, dict):
        if node.get("handler") == "reverse_proxy":
            node["upstreams"] = [{"dial": upstream}]
        for child in node.values():
            point_at(child, upstream)
    elif isinstance(node, list):
        for child in node:
            point_at(child, upstream)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[tuple[dict[str, tuple[int, str]], Upstream]]:
    """Caddy running the Caddyfile on loopback ports, in plain HTTP, in front of a recording upstream:
    each site's original address -> (the port it listens on here, the Host it answers to)."""
    caddy = tool("caddy")
    adapted = run(caddy, "adapt", "--config", str(CADDYFILE))
    assert adapted.returncode == 0, adapted.stderr
    config = json.loads(adapted.stdout)
    upstream = Upstream()
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    point_at(config, f"127.0.0.1:{upstream.server_port}")
    config["admin"] = {"disabled": True}
    sites = {}
    for server in config["apps"]["http"]["servers"].values():
        port = free_port()
        host = server["routes"][0]["match"][0]["host"][0]
        sites[server["listen"][0]] = (port, host)
        server["listen"] = [f"127.0.0.1:{port}"]
        server["automatic_https"] = {"disable": True}
    (tmp_path / "caddy.json").write_text(json.dumps(config), encoding="utf-8")
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path),
    }
    process = subprocess.Popen(
        [caddy, "run", "--config", str(tmp_path / "caddy.json")], env=env, stderr=subprocess.DEVNULL
    )
    try:
        for port, _ in sites.values():
            wait_for(port)
        yield sites, upstream
    finally:
        process.terminate()
        process.wait(timeout=10)
        upstream.shutdown()
        upstream.server_close()


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"caddy did not listen on {port}")


def get(port: int, host: str, target: str) -> int:
    """GET ``target`` exactly as written (no client-side cleaning), with ``Host: host``; the status."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("GET", target, skip_host=True)
        connection.putheader("Host", host)
        connection.endheaders()
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def reaches_private_route(target: str) -> bool:
    """Whether the app would route ``target`` to /metrics or /healthz: uvicorn decodes the path, and a
    trailing slash is redirected to the route."""
    path = unquote(urlsplit(target).path).lower().rstrip("/")
    return re.sub("/+", "/", path) in PRIVATE


TRICKS = [
    "/metrics",
    "/metrics/",
    "/METRICS",
    "/Metrics",
    "/%6detrics",
    "/%6Detrics",
    "/metrics%2F",
    "//metrics",
    "/./metrics",
    "/archive/../metrics",
    "/metrics?format=prometheus",
    "/metrics/../metrics",
    "/healthz",
    "/%68ealthz",
    "/HEALTHZ/",
    "/livez",
    "/Readyz",
    "/%72eadyz/",
]


def test_the_public_site_never_passes_metrics_or_health_to_the_app(
    proxy: tuple[dict[str, tuple[int, str]], Upstream],
) -> None:
    sites, upstream = proxy
    port, host = sites[":443"]
    assert get(port, host, "/subscribe") == 200
    assert upstream.targets == ["/subscribe"], "the public site reaches the app"
    statuses = {target: get(port, host, target) for target in TRICKS}
    leaked = [target for target in upstream.targets if reaches_private_route(target)]
    assert not leaked, f"the public site passed {leaked} to the app"
    assert all(status == 404 for status in statuses.values()), statuses


def test_the_monitoring_site_passes_only_metrics_and_health(
    proxy: tuple[dict[str, tuple[int, str]], Upstream],
) -> None:
    sites, upstream = proxy
    (monitoring,) = [site for address, site in sites.items() if address != ":443"]
    port, host = monitoring
    targets = ("/metrics", "/healthz", "/livez", "/readyz", "/subscribe")
    assert [get(port, host, target) for target in targets] == [200, 200, 200, 200, 404]
    assert upstream.targets == ["/metrics", "/healthz", "/livez", "/readyz"]


def test_caddy_checks_the_apps_readiness_not_the_whole_system(
    proxy: tuple[dict[str, tuple[int, str]], Upstream],
) -> None:
    _, upstream = proxy
    deadline = time.monotonic() + 15
    while not upstream.health_checks:
        assert time.monotonic() < deadline, "Caddy never checked the app's health"
        time.sleep(0.1)
    assert set(upstream.health_checks) == {"/readyz"}
