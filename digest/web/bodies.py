"""What the JSON endpoints (the push API, the provider's webhook) share: the raw body read within a limit,
and the one shape of their errors.

A body larger than its limit is refused as soon as it passes it (or at once when ``Content-Length``
announces it), never held whole in memory: ``BodyTooLarge``, which the app answers 413 (``problem``).
"""

from fastapi import Request
from fastapi.responses import JSONResponse


class BodyTooLarge(Exception):
    """A body passed its limit; the message says what the client should do."""


def problem(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status, headers={"Cache-Control": "no-store", **headers})


async def read_body(request: Request, limit: int, *, advice: str = "") -> bytes:
    """The raw body, refused (``BodyTooLarge``) as soon as it passes ``limit`` bytes; ``advice`` ends
    the refusal's message, its punctuation included."""
    too_large = BodyTooLarge(f"the body is larger than {limit:,} bytes{advice}")
    announced = request.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
    """The app's answer to ``BodyTooLarge`` from any route."""
    return problem(413, str(exc))
