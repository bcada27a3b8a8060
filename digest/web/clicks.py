"""``GET /r/{token}``: a tracked link of an email. Records the click and answers 302 to the link's address.

The address comes only from the signed token (``ClickTokens``), which only a render makes, from the
issue's own links: nothing else can be reached (no open redirect). A tampered token, or one made for
another purpose, gets the link-problem page and no redirect. ``HEAD`` is answered the same way and
never counted, nor is a link scanner's user agent.

``GET /r/{token}/{tag}`` is the same link in one reader's email under ``individual`` tracking: the tag
(``ReaderTags``) names the subscriber and the issue, and must name the link's issue; a tampered tag, or
one from another issue's email, gets the link-problem page too.
"""

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from digest.engagement.clicks import Visit
from digest.web.context import WebDep
from digest.web.conventions import HEAD_KEY

router = APIRouter()


@router.get("/r/{token}", response_model=None)
def follow(request: Request, token: str, web: WebDep) -> Response:
    return followed(request, token, None, web)


@router.get("/r/{token}/{tag}", response_model=None)
def follow_as_reader(request: Request, token: str, tag: str, web: WebDep) -> Response:
    return followed(request, token, tag, web)


def followed(request: Request, token: str, tag: str | None, web: WebDep) -> Response:
    link = web.clicks.tokens.read(token)  # TokenInvalid: the app's link-problem page
    reader = None if tag is None else web.clicks.readers.read(tag, issue=link.issue).subscriber
    visit = Visit(
        address=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
        head=bool(request.scope.get(HEAD_KEY)),
    )
    if web.clicks.recorder is not None:
        web.clicks.recorder.record(link, visit, at=web.now(), subscriber=reader)
    # No cache: a browser that kept the redirect would go straight to the address next time, uncounted.
    return RedirectResponse(link.url, status_code=302, headers={"Cache-Control": "no-store"})
