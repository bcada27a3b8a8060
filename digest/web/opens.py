"""``GET /o/{token}.gif``: the open pixel of a digest (``DIGEST_TRACK_OPENS``). Records the open and
answers a transparent 1x1 GIF that no one may cache (a cached image would be shown again uncounted).
``GET /o/{token}/{tag}.gif`` is the same pixel in one reader's email under ``individual`` tracking: the
tag (``ReaderTags``) names the reader, and must name the pixel's issue.

An image in an email never gets an error page: a tampered or foreign token or tag, or a pixel of an email
sent while opens were counted, gets the same GIF and records nothing (a broken-image box in a reader's
email would tell them nothing useful). ``HEAD`` is answered the same way and never counted, nor is a
scanner's user agent.
"""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from digest.engagement.clicks import Visit
from digest.engagement.opens import PIXEL_GIF
from digest.web.context import WebDep
from digest.web.conventions import HEAD_KEY

router = APIRouter()
HEADERS = {"Cache-Control": "no-store, private", "Expires": "0", "Pragma": "no-cache"}


@router.get("/o/{token}.gif", response_model=None, include_in_schema=False)
def opened(request: Request, token: str, web: WebDep) -> Response:
    return pixel(request, token, None, web)


@router.get("/o/{token}/{tag}.gif", response_model=None, include_in_schema=False)
def opened_by_reader(request: Request, token: str, tag: str, web: WebDep) -> Response:
    return pixel(request, token, tag, web)


def pixel(request: Request, token: str, tag: str | None, web: WebDep) -> Response:
    if web.opens is not None and web.opens.recorder is not None:
        fetched = web.opens.opened(token, tag)
        if fetched is not None:
            visit = Visit(
                address=request.client.host if request.client else "",
                user_agent=request.headers.get("user-agent", ""),
                head=bool(request.scope.get(HEAD_KEY)),
            )
            web.opens.recorder.record(fetched, visit, at=web.now())
    return Response(PIXEL_GIF, media_type="image/gif", headers=HEADERS)
