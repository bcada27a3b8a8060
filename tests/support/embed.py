"""Helpers for the embedded sign-up form's tests: a publisher's site, its signed timestamps, its posts."""

from typing import Any

import httpx2
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

PUBLISHER = "https://news.publisher.example"
STRANGER = "https://copycat.example"
EMBED_ENV = {"DIGEST_EMBED_ORIGINS": f"{PUBLISHER}, https://blog.publisher.example"}


def embed_token(client: TestClient, origin: str = PUBLISHER) -> str:
    """The signed timestamp the script fetches when the publisher's page loads."""
    issued = client.get("/embed/token", headers={"Origin": origin})
    assert issued.status_code == 200, issued.text
    token: str = issued.json()["token"]
    return token


def embed_json(
    client: TestClient, email: str, *, origin: str = PUBLISHER, token: str | None = None, **fields: Any
) -> httpx2.Response:
    """What the script sends from a page of ``origin``: a fresh timestamp unless ``token`` is given."""
    body = {
        "email": email,
        "consent": True,
        "form": "summary-page",
        "timezone": "Asia/Kathmandu",
        "website": "",
        "token": embed_token(client, origin) if token is None else token,
        **fields,
    }
    return client.post("/embed/subscribe", json=body, headers={"Origin": origin})


def embed_form(client: TestClient, fields: dict[str, str], *, origin: str = PUBLISHER) -> httpx2.Response:
    """The plain HTML form posted from a page of ``origin`` with JavaScript off (no timestamp)."""
    data = {"form": "summary-page", "website": "", **fields}
    return client.post(
        "/embed/subscribe", data=data, headers={"Origin": origin, "Referer": f"{origin}/summaries/42"}
    )


def publisher_app(snippet: str) -> Starlette:
    """A publisher's site: a summary page with the sign-up snippet pasted into it."""
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>A summary</title><style>body {{ font: 17px/1.5 Georgia, serif; margin: 0 auto; padding: 1rem;
max-width: 46rem; }} @media (prefers-color-scheme: dark) {{ body {{ background: #121212; color: #eee; }} }}
</style></head><body><h1>Daily aspirin and first strokes</h1>
<p>A plain-language summary of a trial, as a publisher shows it.</p>{snippet}</body></html>"""

    async def summary(request: Request) -> HTMLResponse:
        return HTMLResponse(page)

    async def home(request: Request) -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>Home</title><h1>The publisher's home page</h1>")

    return Starlette(routes=[Route("/summaries/42", summary), Route("/", home)])
