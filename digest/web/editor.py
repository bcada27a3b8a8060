"""The editor's pages under ``/editor``: sign in, the issues, one issue's preview, edits and decisions.

Every route but sign-in needs an editor session (``editor_auth.EditorDep``); every POST is checked for
CSRF (same site, and a form token bound to the editor). The preview frames show the stored email filled
exactly as ``issues.preview`` fills it, the path ``digest preview`` takes too, so they cannot drift from
what is sent. Changes go through ``issues.editing`` and ``issues.decisions``; each is in the audit trail.
"""

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from limits import RateLimitItem, parse_many

from digest.core.zones import wall_time
from digest.db.models import IssueStatus
from digest.errors import ConfigError, DigestError, InvalidInput, NotFound
from digest.i18n import language
from digest.issues import decisions as issues
from digest.issues import review
from digest.issues.compose import EDITABLE
from digest.issues.schedule import field_value, shown
from digest.rendering.checks import check_email
from digest.sending import report as variant_report
from digest.sending import waves
from digest.sending.copies import send_test_copy
from digest.subscribers.records import normalise_address
from digest.tokens import TokenInvalid
from digest.web.context import FormDep, WebDep
from digest.web.editor_auth import (
    LOGIN_FORM,
    AuthDep,
    CrossSite,
    EditorAuth,
    EditorDep,
    SignInRequired,
)
from digest.web.pages import secure
from digest.web.reports import percent, recent_figures
from digest.wiring import Parts

router = APIRouter()
DECISIONS = {"approve": IssueStatus.approved, "hold": IssueStatus.held, "cancel": IssueStatus.cancelled}
DONE = {
    "approve": "Approved: it goes out with the next send.",
    "hold": "Held: it is not sent until approved again.",
    "cancel": "Cancelled: its summaries go back to the pool.",
    "arrange": "Items saved; the preview shows the new order.",
    "words": "Saved; the preview shows the change.",
    "test": "Test sent.",
    "schedule": "Send time saved.",
    "unschedule": "Send time cleared: it goes with the next send once approved.",
}


def install(app: FastAPI, parts: Parts) -> None:
    """Wire the editor into ``app``: its settings, its routes and its two refusals."""
    settings = parts.settings
    app.state.editor_auth = EditorAuth(
        accounts=settings.editor_accounts,
        keys=settings.signing_keys,
        form_tokens=app.state.web.guard.form_tokens,
        login_limits=login_limits(settings.editor_login_limit),
        counts=app.state.web.guard.counts,
        max_age=settings.editor_session_max_age,
        base_url=settings.base_url,
    )
    app.state.editor_parts = parts
    app.include_router(router)

    @app.exception_handler(SignInRequired)
    def sign_in_first(request: Request, exc: SignInRequired) -> Response:
        if request.method == "GET":
            return RedirectResponse("/editor/login", status_code=303)
        return refusal(request, 401, "Sign in first", "This needs an editor's session: sign in at /editor.")

    @app.exception_handler(CrossSite)
    def cross_site(request: Request, exc: CrossSite) -> Response:
        return refusal(request, 403, "Request not accepted", f"{exc}. Reload the page and try again.")


def login_limits(setting: str) -> list[RateLimitItem]:
    try:
        return parse_many(setting)
    except ValueError as exc:
        raise ConfigError(f"DIGEST_EDITOR_LOGIN_LIMIT must look like '5/minute;20/hour': {exc}") from exc


def refusal(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    page: HTMLResponse = request.app.state.web.pages.render(
        request, "message.html", status, title=title, message=message
    )
    return page


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    response: HTMLResponse = request.app.state.web.pages.render(request, name, status, **context)
    # The preview frames come from this site; everything else stays as strict as any page.
    response.headers["Content-Security-Policy"] += "; frame-src 'self'"
    return response


# --- signing in ----------------------------------------------------------------------------------


@router.get("/editor/login", response_class=HTMLResponse)
def login_page(request: Request, web: WebDep, auth: AuthDep) -> Response:
    if auth.editor_of(request) is not None:
        return RedirectResponse("/editor", status_code=303)
    return page(request, "editor/login.html", form_token=web.guard.form_token(LOGIN_FORM), error="")


@router.post("/editor/login", response_class=HTMLResponse)
async def login(request: Request, web: WebDep, auth: AuthDep) -> Response:
    auth.check_origin(request)
    form = await request.form()
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    try:
        web.guard.check_form(LOGIN_FORM, str(form.get("form_token", "")))
    except TokenInvalid as exc:
        raise CrossSite(str(exc)) from exc
    auth.check_limits(request, name)
    if not await auth.password_matches(name, password):
        auth.failed(request, name)
        return page(
            request,
            "editor/login.html",
            401,
            form_token=web.guard.form_token(LOGIN_FORM),
            error="That name and password do not match an editor account.",
        )
    response = RedirectResponse("/editor", status_code=303)
    auth.start_session(response, name)
    return response


@router.post("/editor/logout")
def logout(request: Request, editor: EditorDep, auth: AuthDep, form: FormDep) -> Response:
    auth.check_form(request, editor, str(form.get("form_token", "")))
    response = RedirectResponse("/editor/login", status_code=303)
    auth.end_session(response)
    return response


# --- the issues ----------------------------------------------------------------------------------


@router.get("/editor", response_class=HTMLResponse)
def issue_list(request: Request, editor: EditorDep, web: WebDep, auth: AuthDep) -> HTMLResponse:
    listing = review.listing(web.engine)
    in_review = [row for row in listing if row[2] in (*EDITABLE, IssueStatus.approved)]
    past = [row for row in listing if row not in in_review]
    return page(
        request,
        "editor/issues.html",
        editor=editor,
        in_review=in_review,
        past=past,
        form_token=auth.form_token(editor),
        percent=percent,
        **recent_figures(web),
    )


@router.get("/editor/issues/{number}", response_class=HTMLResponse)
def issue_page(
    request: Request, number: int, editor: EditorDep, web: WebDep, auth: AuthDep, done: str = ""
) -> HTMLResponse:
    try:
        return show_issue(request, number, editor, auth, notice=DONE.get(done, ""))
    except DigestError as exc:
        return refusal(request, 404, "No such issue", str(exc))


def show_issue(
    request: Request,
    number: int,
    editor: str,
    auth: EditorAuth,
    *,
    notice: str = "",
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    parts: Parts = request.app.state.editor_parts
    zone = parts.settings.timezone
    view = review.issue_view(parts.engine, checked(number), base_url=parts.settings.base_url)
    local = parts.local_delivery()
    wave_rows = waves.rows_of(parts.engine, view.number, local)
    summary = {
        "number": view.number,
        "status": view.status,
        "subject": view.subject,
        "preheader": view.preheader,
        "note": view.note,
        "send_at": shown(view.send_at, zone) if view.send_at else "",
        "send_at_field": field_value(view.send_at, zone),
    }
    return page(
        request,
        "editor/issue.html",
        status,
        editor=editor,
        issue=summary,
        editable=view.status in EDITABLE,
        items=view.items,
        trail=view.trail,
        variants=variant_report.variants_of(parts.engine, view.number),
        too_old=view.too_old,
        text=view.text,
        size_kb=f"{len(view.html.encode()) / 1024:.1f}",
        warnings=check_email(view.html, postal_address=parts.settings.postal_address),
        form_token=auth.form_token(editor),
        notice=notice,
        error=error,
        zone=zone,
        waves=wave_rows,
        local=local is not None,
    )


def checked(number: int) -> int:
    if not 0 < number < 2**31:
        raise InvalidInput(f"there is no issue {number}")
    return number


@router.get("/editor/issues/{number}/email.html", response_class=HTMLResponse)
def issue_email(request: Request, number: int, editor: EditorDep, web: WebDep) -> HTMLResponse:
    """The stored email as a subscriber sees it, for the preview frames."""
    parts: Parts = request.app.state.editor_parts
    try:
        html = review.email_preview(parts.engine, checked(number), base_url=parts.settings.base_url)
    except DigestError as exc:
        return refusal(request, 404, "No such issue", str(exc))
    return framed(html)


def framed(html: str) -> HTMLResponse:
    """An email for a preview frame of this site: no scripts, nothing loaded but https images."""
    response = HTMLResponse(html)
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
        "base-uri 'none'; frame-ancestors 'self'"
    )
    secure(response)
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


# --- variants ------------------------------------------------------------------------------------


@router.get("/editor/issues/{number}/variants/{key}", response_class=HTMLResponse)
def variant_page(
    request: Request, number: int, key: str, editor: EditorDep, web: WebDep, auth: AuthDep
) -> HTMLResponse:
    """One variant of an issue: what it holds and who gets it, its preview and its text part."""
    parts: Parts = request.app.state.editor_parts
    try:
        view = variant_report.variant_view(parts.engine, parts.renderer, checked(number), key)
    except DigestError as exc:
        return refusal(request, 404, "No such variant", str(exc))
    email = view.email
    html = issues.filled_for_preview(email.html, email.markers, base_url=parts.settings.base_url)
    return page(
        request,
        "editor/variant.html",
        editor=editor,
        issue={"number": view.number, "status": view.status},
        variant=view.variant,
        subject=email.subject,
        preheader=email.preheader,
        text=issues.filled_for_preview(email.text, email.markers, base_url=parts.settings.base_url),
        size_kb=f"{len(html.encode()) / 1024:.1f}",
        form_token=auth.form_token(editor),
    )


@router.get("/editor/issues/{number}/variants/{key}/email.html", response_class=HTMLResponse)
def variant_email(request: Request, number: int, key: str, editor: EditorDep, web: WebDep) -> HTMLResponse:
    """A variant's email as its subscribers see it, for the preview frames."""
    parts: Parts = request.app.state.editor_parts
    try:
        email = variant_report.variant_view(parts.engine, parts.renderer, checked(number), key).email
    except DigestError as exc:
        return refusal(request, 404, "No such variant", str(exc))
    return framed(issues.filled_for_preview(email.html, email.markers, base_url=parts.settings.base_url))


# --- changes -------------------------------------------------------------------------------------


@router.post("/editor/issues/{number}", response_class=HTMLResponse)
def change_issue(
    request: Request, number: int, editor: EditorDep, web: WebDep, auth: AuthDep, posted: FormDep
) -> Response:
    # A plain def: rendering the issue's email, the database and a test send run in a worker thread.
    form = {key: str(value) for key, value in posted.items()}
    auth.check_form(request, editor, form.get("form_token", ""))
    action = form.get("action", "")
    try:
        apply(request, checked(number), editor, action, form)
    except NotFound as exc:
        return refusal(request, 404, "No such issue", str(exc))
    except DigestError as exc:
        return show_issue(request, number, editor, auth, error=str(exc), status=409)
    return RedirectResponse(f"/editor/issues/{number}?done={action}", status_code=303)


def apply(request: Request, number: int, editor: str, action: str, form: dict[str, str]) -> None:
    parts: Parts = request.app.state.editor_parts
    web = request.app.state.web
    now = web.now()
    if action == "test":
        send_test(parts, number, editor, form.get("to", ""), now)
        return
    if action in DECISIONS:
        review.decide(parts.engine, number, DECISIONS[action], by=editor, now=now)
    elif action in ("schedule", "unschedule"):
        zone = parts.settings.timezone
        at = wall_time(form.get("send_at", ""), zone) if action == "schedule" else None
        review.schedule(parts.engine, number, at, zone=zone, by=editor, now=now)
    elif action == "arrange":
        shown, order = new_order(form)
        review.arrange(parts.engine, parts.renderer, number, order, shown=shown, by=editor, now=now)
    elif action == "words":
        words = review.Words(form.get("subject", ""), form.get("preheader", ""), form.get("note", ""))
        review.edit_words(parts.engine, parts.renderer, number, words, by=editor, now=now)
    else:
        raise InvalidInput(f"unknown action {action!r}")


def new_order(form: dict[str, str]) -> tuple[list[int], list[int]]:
    """The order shown and the order after one press of Up, Down or Drop (``move`` = ``ID:up``)."""
    try:
        shown = [int(part) for part in form.get("order", "").split()]
        order = list(shown)
        target, _, how = form.get("move", "").partition(":")
        index = order.index(int(target))
    except ValueError as exc:
        raise InvalidInput("reload the page: the items changed") from exc
    if how == "drop":
        del order[index]
    elif how in ("up", "down"):
        other = index - 1 if how == "up" else index + 1
        if 0 <= other < len(order):
            order[index], order[other] = order[other], order[index]
    return shown, order


def send_test(parts: Parts, number: int, editor: str, to: str, now: Any) -> None:
    address = normalise_address(to)
    issue = review.detached_issue(parts.engine, number)
    mailer = parts.mailer()
    try:
        send_test_copy(
            issue,
            address,
            mailer,
            from_=parts.settings.from_,
            base_url=parts.settings.base_url,
            now=now,
            words=language(parts.settings.language).translations,
        )
    finally:
        mailer.close()
    review.record(parts.engine, number, by=editor, action="test-send", now=now, detail=f"to {address}")
