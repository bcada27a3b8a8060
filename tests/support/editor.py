"""Helpers for the editor's tests: accounts with cheap argon2 hashes, signing in, the issue page's forms."""

import re

import httpx2
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

# Cheap parameters keep the tests fast; the shape is the one DIGEST_EDITORS reads.
_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery staple"
OTHER_PASSWORD = "another long passphrase"
ADA_HASH = _HASHER.hash(PASSWORD)
EDITORS = f"ada:{ADA_HASH},bob:{_HASHER.hash(OTHER_PASSWORD)}"
FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


def token_on(page: httpx2.Response) -> str:
    found = FORM_TOKEN.search(page.text)
    assert found, page.text
    return found.group(1)


def sign_in(client: TestClient, name: str = "ada", password: str = PASSWORD) -> httpx2.Response:
    form = client.get("/editor/login")
    return client.post(
        "/editor/login", data={"form_token": token_on(form), "name": name, "password": password}
    )


def act(client: TestClient, number: int, action: str, **fields: str) -> httpx2.Response:
    """Press a button of issue ``number``'s page, as the browser would, with the page's form token."""
    page = client.get(f"/editor/issues/{number}")
    assert page.status_code == 200, page.text
    return client.post(
        f"/editor/issues/{number}", data={"form_token": token_on(page), "action": action, **fields}
    )


def order_on(page: httpx2.Response) -> str:
    found = re.search(r'name="order" value="([^"]*)"', page.text)
    assert found, page.text
    return found.group(1)
