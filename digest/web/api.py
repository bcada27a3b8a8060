"""``POST /api/summaries``: publishing systems push summaries with an editor's API token.

``Authorization: Bearer TOKEN`` (``digest editors token NAME`` issues one). The body is one summary
object or a list of them (at most 500, at most 5 MB). The answer has a result per item, in order:
200 when at least one went in (or was already there), 422 when every item was rejected, 400 for a body
that is not JSON, 401 without a valid token, 413 for a body too large.
"""

import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from digest.ingest.push import MAX_ITEMS, push_summaries
from digest.rendering import Renderer
from digest.tokens import ApiHolder, Scope, TokenInvalid
from digest.web.bodies import problem, read_body
from digest.web.context import Web, WebDep

router = APIRouter()
log = logging.getLogger("digest.web.api")

MAX_BODY = 5_000_000


def holder_of(request: Request, web: Web) -> ApiHolder | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or web.api_tokens is None:
        return None
    try:
        return web.api_tokens.holder(token.strip())
    except TokenInvalid:
        return None


def allowed(request: Request, web: Web, scope: Scope) -> ApiHolder | JSONResponse:
    """The token's holder when it may act for ``scope``; else the answer: 401 without a genuine token,
    403 for one not issued for ``scope``."""
    holder = holder_of(request, web)
    command = f"digest editors token NAME --scope {scope}"
    if holder is None:
        return problem(
            401,
            f"an editor's API token is required: Authorization: Bearer TOKEN ({command})",
            **{"WWW-Authenticate": 'Bearer realm="digest"'},
        )
    if scope not in holder.scopes:
        return problem(403, f"this API token is not issued for {scope}: issue one with {command}")
    return holder


@router.post("/api/summaries")
async def push(request: Request, web: WebDep) -> JSONResponse:
    holder = allowed(request, web, Scope.summaries)
    if isinstance(holder, JSONResponse):
        return holder
    editor = holder.editor
    if web.renderer is None:
        return problem(503, "the push API is not wired in this process")
    body = await read_body(request, MAX_BODY, advice="; send fewer summaries at once")
    # Parsing, validating, rendering and storing up to MAX_ITEMS summaries: in a worker thread.
    return await run_in_threadpool(store, web, web.renderer, editor, body)


def store(web: Web, renderer: Renderer, editor: str, body: bytes) -> JSONResponse:
    try:
        parsed: Any = json.loads(body)
    except (ValueError, RecursionError):
        return problem(400, "the body is not JSON: send one summary object or a list of them")
    items = parsed if isinstance(parsed, list) else [parsed]
    if not items or len(items) > MAX_ITEMS:
        return problem(400, f"send between 1 and {MAX_ITEMS} summaries at once, not {len(items)}")
    results = push_summaries(web.engine, items, renderer, editor=editor, now=web.now())
    accepted = sum(result.status != "rejected" for result in results)
    log.info("api: %s pushed %d summaries, %d rejected", editor, len(results), len(results) - accepted)
    return JSONResponse(
        {"results": [result.as_json() for result in results], "accepted": accepted},
        200 if accepted else 422,
        headers={"Cache-Control": "no-store"},
    )
