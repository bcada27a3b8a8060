"""Settings and how the command line reports mistakes: one ``error:`` line, exit code 1, no traceback."""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from digest.config import DEVELOPMENT_SECRET, Settings, load_settings
from digest.core.contrast import AA, contrast_ratio
from digest.core.durations import parse_duration
from digest.errors import ConfigError, InvalidInput
from digest.rendering.palette import brand_contrast
from tests.support import summary, write_summaries
from tests.support.cli import Digest, Result

SECRET = "Zq3v6Yw0m1s8e2cM5hXkT9pLrA4uJb7N"
POSTAL = "Research Digest, 1 Example Street, Springfield"


@pytest.fixture(autouse=True)
def no_outside_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``Settings`` reads ``DIGEST_*`` variables and ``.env``: keep the caller's out of these tests."""
    for name in [name for name in os.environ if name.startswith("DIGEST_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


FROM = "Research Digest <digest@news.example.org>"


def production(
    *,
    secret_keys: str = SECRET,
    postal_address: str | None = POSTAL,
    base_url: str = "https://d.example.org",
    from_: str = FROM,
) -> Settings:
    return Settings(
        env="production",
        secret_keys=secret_keys,
        postal_address=postal_address,
        base_url=base_url,
        from_=from_,
    )


def refused(result: Result) -> str:
    """The one-line reason of a command that failed as a user mistake should."""
    assert result.exit_code == 1, result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


# --- production refuses what is only fit for development ---------------------------------------------


def test_development_accepts_the_defaults() -> None:
    settings = Settings()

    settings.check()
    assert settings.env == "development"
    assert settings.secret_keys == DEVELOPMENT_SECRET


def test_a_complete_production_configuration_is_accepted() -> None:
    production().check()


@pytest.mark.parametrize(
    "secret_keys",
    [DEVELOPMENT_SECRET, f"{SECRET},{DEVELOPMENT_SECRET}", f"{DEVELOPMENT_SECRET},{SECRET}", " , "],
)
def test_production_refuses_the_development_secret(secret_keys: str) -> None:
    with pytest.raises(ConfigError, match="DIGEST_SECRET_KEYS") as raised:
        production(secret_keys=secret_keys).check()

    assert "DIGEST_ENV=production" in str(raised.value)


def test_the_test_environment_refuses_the_development_secret_too() -> None:
    with pytest.raises(ConfigError, match="DIGEST_SECRET_KEYS"):
        Settings(env="test").check()
    Settings(env="test", secret_keys=SECRET, from_=FROM).check()


@pytest.mark.parametrize("postal_address", [None, ""])
def test_production_requires_a_postal_address(postal_address: str | None) -> None:
    with pytest.raises(ConfigError, match="DIGEST_POSTAL_ADDRESS"):
        production(postal_address=postal_address).check()


def test_production_refuses_an_http_base_url() -> None:
    with pytest.raises(ConfigError, match="DIGEST_BASE_URL must be https"):
        production(base_url="http://digest.example.org").check()


@pytest.mark.parametrize(
    "from_",
    [
        "Research Digest <digest@localhost>",  # the default
        "digest@mailhost",
        "digest@news.example",
        "digest@digest.local",
        "digest@site.test",
        "digest@box.localdomain",
        "digest@10.0.0.7",
        "digest@[10.0.0.7]",
    ],
)
def test_outside_development_the_from_must_be_at_a_real_domain(from_: str) -> None:
    Settings(from_=from_).check()  # development: anything goes
    for env in ("test", "production"):
        with pytest.raises(ConfigError, match="DIGEST_FROM must be an address at a real domain") as raised:
            production(from_=from_).model_copy(update={"env": env}).check()
        assert repr(from_) in str(raised.value)


@pytest.mark.parametrize(
    "from_",
    [FROM, "digest@news.example.org", "Résumé <digest@bücher.example.com>", "digest@xn--p1ai.xn--p1ai"],
)
def test_a_from_at_a_public_domain_is_accepted(from_: str) -> None:
    production(from_=from_).check()


def test_a_base_url_that_is_not_a_url_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_BASE_URL", "digest.example.org")

    with pytest.raises(ConfigError, match="DIGEST_BASE_URL"):
        load_settings()


def test_load_settings_reads_the_environment_and_checks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_ENV", "production")
    monkeypatch.setenv("DIGEST_SECRET_KEYS", SECRET)
    monkeypatch.setenv("DIGEST_BASE_URL", "https://digest.example.org/")
    monkeypatch.setenv("DIGEST_FROM", FROM)
    with pytest.raises(ConfigError, match="DIGEST_POSTAL_ADDRESS"):
        load_settings()

    monkeypatch.setenv("DIGEST_POSTAL_ADDRESS", POSTAL)
    settings = load_settings()
    assert (settings.env, settings.base_url, settings.postal_address) == (
        "production",
        "https://digest.example.org",
        POSTAL,
    )


def test_a_dotenv_file_is_read_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    Path(".env").write_text("DIGEST_MAX_ITEMS=3\nDIGEST_REVIEW_WINDOW=2h\n", encoding="utf-8")
    assert (Settings().max_items, Settings().review_window) == (3, timedelta(hours=2))

    monkeypatch.setenv("DIGEST_MAX_ITEMS", "5")
    assert Settings().max_items == 5


# --- durations -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("45", timedelta(seconds=45)),
        ("90s", timedelta(seconds=90)),
        ("10m", timedelta(minutes=10)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        (" 1H 30M ", timedelta(hours=1, minutes=30)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("1d12h", timedelta(days=1, hours=12)),
    ],
)
def test_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["soon", "", "1.5h", "-5m", "10 minutes", "1h soon", "h"])
def test_a_word_that_is_not_a_duration_is_refused_with_an_example(text: str) -> None:
    with pytest.raises(InvalidInput, match="not a duration") as raised:
        parse_duration(text)

    assert repr(text) in str(raised.value)
    assert "90s" in str(raised.value)


def test_duration_settings_parse_what_people_write(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_INGEST_EVERY", "10m")
    monkeypatch.setenv("DIGEST_REVIEW_WINDOW", "1h30m")

    settings = load_settings()

    assert settings.ingest_every == timedelta(minutes=10)
    assert settings.review_window == timedelta(hours=1, minutes=30)
    assert Settings().first_issue_lookback == timedelta(days=7)


def test_a_duration_setting_that_is_not_a_duration_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValidationError, match="soon"):
        Settings(review_window="soon")

    monkeypatch.setenv("DIGEST_REVIEW_WINDOW", "soon")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert str(raised.value).startswith("bad setting: DIGEST_REVIEW_WINDOW: not a duration: 'soon'")


# --- the command line ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("engine")
def test_an_unknown_issue_is_one_line(digest: Digest) -> None:

    for command in (["approve", "99"], ["hold", "99"], ["cancel", "99"], ["send", "99"], ["preview", "99"]):
        assert refused(digest(*command, ok=False)) == "error: there is no issue 99"


@pytest.mark.parametrize(
    "url",
    ["postgresql+psycopg://postgres@127.0.0.1:1/nope", "sqlite:////nonexistent-folder/digest.db"],
    ids=["postgres-port-1", "sqlite-no-folder"],
)
def test_an_unreachable_database_is_one_line(digest: Digest, env: dict[str, str], url: str) -> None:
    env["DIGEST_DATABASE_URL"] = url

    for command in (["status"], ["db", "upgrade"], ["ingest"], ["subscribers", "list"]):
        line = refused(digest(*command, ok=False))
        assert line.startswith(f"error: cannot reach the database {url}: "), command


@pytest.mark.parametrize("url", ["not a database url", "postgresql+nosuchdriver://db.example.org/digest"])
def test_a_malformed_database_url_is_one_line(digest: Digest, env: dict[str, str], url: str) -> None:
    env["DIGEST_DATABASE_URL"] = url

    for command in (["status"], ["db", "upgrade"]):
        line = refused(digest(*command, ok=False))
        assert line.startswith(f"error: DIGEST_DATABASE_URL is not a usable database URL: {url!r}")


def test_an_unmigrated_database_says_to_run_db_upgrade(digest: Digest) -> None:
    commands = (["status"], ["compose"], ["send"], ["subscribers", "list"], ["approve", "1"])
    for command in commands:
        line = refused(digest(*command, ok=False))
        assert line == "error: the database is not set up: run `digest db upgrade` to create its tables"

    digest("db", "upgrade", "0001")  # set up by an older version
    for command in commands:
        line = refused(digest(*command, ok=False))
        assert line == "error: the database schema is out of date: run `digest db upgrade`", command

    digest("db", "upgrade")
    assert "last issue: none yet" in digest("status").stdout


@pytest.mark.parametrize(
    "address", ["not-an-address", "ada@", "@example.org", "ada@example", "a b@example.org"]
)
@pytest.mark.usefixtures("engine")
def test_an_invalid_address_is_one_line_and_adds_nobody(digest: Digest, address: str) -> None:

    line = refused(digest("subscribers", "add", address, ok=False))

    assert line.startswith(f"error: not a valid email address: {address!r}")
    assert digest("subscribers", "list").stdout == ""


@pytest.mark.usefixtures("clock_at_now")
@pytest.mark.parametrize("decision", ["draft", "hold", "cancel"])
@pytest.mark.usefixtures("engine")
def test_sending_an_unapproved_issue_is_one_line(digest: Digest, env: dict[str, str], decision: str) -> None:
    write_summaries(Path(env["DIGEST_SOURCES"]), "week.json", [summary(1), summary(2)])
    env["DIGEST_SCHEDULE"] = "0 7 * * mon"
    digest("subscribers", "add", "ada@example.org", "--confirmed")
    digest("ingest")
    digest("compose")
    status = {"draft": "draft", "hold": "held", "cancel": "cancelled"}[decision]
    if decision != "draft":
        digest(decision, "1")

    line = refused(digest("send", "1", ok=False))

    assert line == f"error: issue 1 is {status}; only an approved issue can be sent"
    assert f"last issue: 1 ({status})" in digest("status").stdout


def test_the_command_line_refuses_development_settings_in_production(
    digest: Digest, env: dict[str, str]
) -> None:
    env["DIGEST_ENV"] = "production"

    line = refused(digest("status", ok=False))
    assert line.startswith("error: DIGEST_SECRET_KEYS holds the development key while DIGEST_ENV=production")

    env["DIGEST_SECRET_KEYS"] = SECRET
    env["DIGEST_BASE_URL"] = "http://digest.example.org"
    assert refused(digest("status", ok=False)).startswith(
        "error: DIGEST_BASE_URL must be https in production"
    )

    env["DIGEST_BASE_URL"] = "https://digest.example.org"
    env["DIGEST_FROM"] = "Research Digest <digest@localhost>"
    assert refused(digest("status", ok=False)) == (
        "error: DIGEST_FROM must be an address at a real domain while DIGEST_ENV=production (mail from "
        "localhost is refused or taken for spam): got 'Research Digest <digest@localhost>'"
    )

    env["DIGEST_FROM"] = FROM
    del env["DIGEST_POSTAL_ADDRESS"]
    assert refused(digest("status", ok=False)).startswith("error: DIGEST_POSTAL_ADDRESS is required")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DIGEST_REVIEW_WINDOW", "soon"),
        ("DIGEST_INGEST_EVERY", "hourly"),
        ("DIGEST_MAX_ITEMS", "0"),
        ("DIGEST_MAX_ITEMS", "ten"),
        ("DIGEST_ENV", "staging"),
        ("DIGEST_EMAIL_BACKEND", "pigeon"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    digest: Digest, env: dict[str, str], name: str, value: str
) -> None:
    env[name] = value

    line = refused(digest("status", ok=False))

    assert line.startswith(f"error: bad setting: {name}: ")


# --- the email's brand colour and logo ------------------------------------------------------------------


def test_a_brand_colour_whose_masthead_reads_at_aa_in_both_schemes_is_accepted() -> None:
    assert Settings(brand_color="#14532D").brand_color == "#14532d"
    assert contrast_ratio("#ffffff", Settings().brand_color) >= AA  # the default passes too


def test_a_brand_colour_readable_only_in_the_light_scheme_is_refused_naming_the_dark_one() -> None:
    colour = "#1a73c8"  # white on it passes AA; the dark scheme's light grey does not
    assert brand_contrast(colour)["light"] >= AA > brand_contrast(colour)["dark"]

    with pytest.raises(ValidationError, match=r"in the dark scheme; WCAG AA needs 4.5:1") as refusal:
        Settings(brand_color=colour)
    assert "light scheme" not in str(refusal.value)


@pytest.mark.parametrize("value", ["#ffcc00", "yellow", "#ffcc0"])
def test_a_bad_brand_colour_stops_the_command_line_naming_the_setting(
    digest: Digest, env: dict[str, str], value: str
) -> None:
    env["DIGEST_BRAND_COLOR"] = value

    line = refused(digest("status", ok=False))

    assert line.startswith("error: bad setting: DIGEST_BRAND_COLOR: ")
    assert ("too light for the masthead" in line) == value.startswith("#ffcc00")


@pytest.mark.parametrize("url", ["http://cdn.example.org/logo.png", "javascript:alert(1)", "logo.png"])
def test_a_logo_not_at_an_https_address_is_refused_by_name(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DIGEST_LOGO_URL", url)

    with pytest.raises(ConfigError, match="DIGEST_LOGO_URL: must be an https:// address"):
        load_settings()


@pytest.mark.parametrize(
    "origins",
    ["*", "https://www.example.org/newsletter", "www.example.org", "ftp://example.org", "https://a@b.org"],
)
def test_embed_origins_that_are_not_exact_origins_stop_start_up(
    monkeypatch: pytest.MonkeyPatch, origins: str
) -> None:
    monkeypatch.setenv("DIGEST_EMBED_ORIGINS", f"https://ok.example.org, {origins}")
    with pytest.raises(ConfigError, match=r"DIGEST_EMBED_ORIGINS: .* is not an origin: write scheme://host"):
        load_settings()


def test_embed_origins_are_read_as_browsers_write_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "DIGEST_EMBED_ORIGINS", "https://WWW.Example.org:443/ http://127.0.0.1:8001,https://b.org"
    )
    assert load_settings().embed_origin_list == (
        "https://www.example.org",
        "http://127.0.0.1:8001",
        "https://b.org",
    )
