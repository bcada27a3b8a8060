"""Rate limits counted in one store for every web process (``DIGEST_RATE_LIMIT_STORAGE``).

Two apps on one database stand for two ``digest serve`` processes, as in tests/test_subscribers_race.py.
Counted in memory, each process allows the whole limit; counted in the Redis on this machine, the two
share one count. Each test keeps its counters under a prefix of its own and removes them afterwards.
"""

import uuid
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
import redis
from fastapi.testclient import TestClient

from digest.config import Settings, load_settings
from digest.errors import ConfigError
from digest.web.app import create_app
from digest.wiring import Parts
from tests.support.cli import Digest
from tests.support.web import subscribe_form, subscribe_json

REDIS = "redis://127.0.0.1:6379"


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix no other test (or helper) uses; its keys are deleted afterwards."""
    name = f"digest-test-{uuid.uuid4().hex}"
    yield name
    store = redis.Redis.from_url(REDIS)
    for key in store.scan_iter(f"*{name}*"):
        store.delete(key)
    store.close()


@pytest.fixture
def store(request: pytest.FixtureRequest) -> str:
    """Where the counts are kept: a test's parameter, else the default."""
    return str(getattr(request, "param", "memory://"))


@pytest.fixture
def web_env(web_env: dict[str, str], store: str, prefix: str) -> dict[str, str]:
    return {
        **web_env,
        "DIGEST_RATE_LIMIT_IP": "3/minute",
        "DIGEST_RATE_LIMIT_ADDRESS": "1000/hour",
        "DIGEST_RATE_LIMIT_STORAGE": store,
        "DIGEST_RATE_LIMIT_PREFIX": prefix,
    }


def two_processes(parts: Parts, stack: ExitStack) -> tuple[TestClient, TestClient]:
    first, second = (stack.enter_context(TestClient(create_app(parts))) for _ in range(2))
    return first, second


@pytest.mark.parametrize("store", [REDIS], indirect=True)
def test_two_web_processes_share_one_count_in_redis(parts: Parts) -> None:
    with ExitStack() as stack:
        first, second = two_processes(parts, stack)
        assert subscribe_json(first, "a@example.org").status_code == 202
        assert subscribe_form(second, "b@example.org").status_code == 200
        assert subscribe_json(first, "c@example.org").status_code == 202
        # 3/minute for the whole site: the fourth is refused by either process.
        assert subscribe_json(second, "d@example.org").status_code == 429
        assert subscribe_form(first, "e@example.org").status_code == 429


@pytest.mark.parametrize("store", ["memory://"], indirect=True)
def test_in_memory_each_web_process_counts_on_its_own(parts: Parts) -> None:
    """The default, and why a site with several processes wants Redis: each allows the whole limit."""
    with ExitStack() as stack:
        first, second = two_processes(parts, stack)
        for number in range(3):
            assert subscribe_json(first, f"first{number}@example.org").status_code == 202
        assert subscribe_json(first, "first3@example.org").status_code == 429
        assert subscribe_json(second, "second@example.org").status_code == 202


@pytest.mark.parametrize("store", [REDIS], indirect=True)
def test_sites_with_other_prefixes_count_apart(
    parts: Parts, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TestClient(create_app(parts)) as client:
        for number in range(3):
            assert subscribe_json(client, f"user{number}@example.org").status_code == 202
        assert subscribe_json(client, "user3@example.org").status_code == 429
    monkeypatch.setenv("DIGEST_RATE_LIMIT_PREFIX", f"{prefix}-other")
    with Parts.from_environment() as other, TestClient(create_app(other)) as client:
        assert subscribe_json(client, "user4@example.org").status_code == 202


@pytest.mark.parametrize("store", [REDIS], indirect=True)
def test_failed_editor_sign_ins_are_counted_across_processes(parts: Parts) -> None:
    with ExitStack() as stack:
        first, second = two_processes(parts, stack)
        counts = first.app.state.web.guard.counts  # type: ignore[attr-defined]
        limit = first.app.state.editor_auth.login_limits[0]  # type: ignore[attr-defined]
        shared = second.app.state.editor_auth.counts  # type: ignore[attr-defined]
        assert counts is not shared
        for _ in range(limit.amount):
            counts.hit(limit, "editor-login", "name", "ada")
        assert not shared.test(limit, "editor-login", "name", "ada")


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("memcache://127.0.0.1:11211", "unknown rate-limit store"),
        ("127.0.0.1:6379", "unknown rate-limit store"),
        ("postgresql://localhost/digest", "unknown rate-limit store"),
    ],
)
def test_an_unknown_store_is_refused_at_start_up(
    value: str, said: str, monkeypatch: pytest.MonkeyPatch, digest: Digest
) -> None:
    monkeypatch.setenv("DIGEST_RATE_LIMIT_STORAGE", value)
    with pytest.raises(ConfigError, match=f"DIGEST_RATE_LIMIT_STORAGE: {said}"):
        load_settings()
    digest.env["DIGEST_RATE_LIMIT_STORAGE"] = value
    refused = digest("status", ok=False)
    assert refused.exit_code == 1
    assert said in refused.stderr
    assert "redis://127.0.0.1:6379" in refused.stderr  # it says what would do


def test_a_store_that_does_not_answer_stops_the_web_app_at_start_up(
    parts: Parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_RATE_LIMIT_STORAGE", "redis://127.0.0.1:1")
    with Parts.from_environment() as other, pytest.raises(ConfigError, match="does not answer"):
        create_app(other)


def test_memory_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIGEST_RATE_LIMIT_STORAGE", raising=False)
    assert Settings().rate_limit_storage == "memory://"
