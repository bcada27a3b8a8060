"""The FastAPI app factory: ``create_app(parts)`` wires the routes to one set of parts."""

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from digest.core.origins import origin_of
from digest.i18n import N_, language
from digest.mail.sendgrid_events import EventSignatures
from digest.rendering import templates_dir
from digest.subscribers.topics import Offer
from digest.tokens import EmbedTokens, FormTokens, TokenInvalid
from digest.web import (
    api,
    api_subscribers,
    archive,
    clicks,
    editor,
    editor_embed,
    embed,
    links,
    opens,
    ops,
    reports,
    subscribe,
    webhooks,
)
from digest.web.bodies import BodyTooLarge, too_large
from digest.web.context import Web
from digest.web.conventions import HeadAsGet, SlashRedirect, allowed_methods
from digest.web.embed_sites import Embed, EmbedCORS, EmbedSites, Script
from digest.web.guard import Counts, Guard, TooManyRequests, parse_limits
from digest.web.pages import Pages
from digest.web.proof import ProofOfWork
from digest.wiring import Parts


def create_app(parts: Parts) -> FastAPI:
    settings = parts.settings
    app = FastAPI(
        title=settings.site_name, docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False
    )
    app.router.default = SlashRedirect(app.router.routes, settings.base_url)
    app.add_middleware(HeadAsGet)
    app.add_middleware(EmbedCORS, origins=settings.embed_origin_list)
    app.state.web = web_context(parts)
    app.include_router(subscribe.router)
    app.include_router(embed.router)
    app.include_router(editor_embed.router)
    app.include_router(links.router)
    app.include_router(clicks.router)
    app.include_router(opens.router)
    app.include_router(reports.router)
    app.include_router(archive.router)
    app.include_router(ops.router)
    app.include_router(api.router)
    app.include_router(api_subscribers.router)
    app.include_router(webhooks.router)
    editor.install(app, parts)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/subscribe", status_code=303)

    answer_errors(app)
    return app


def web_context(parts: Parts) -> Web:
    """What every route needs (``context.Web``), built from the parts."""
    settings = parts.settings
    return Web(
        engine=parts.engine,
        tokens=parts.tokens,
        clicks=parts.tracked_links,
        opens=parts.open_pixels,
        pages=Pages(
            settings.site_name,
            logo_url=settings.logo_url,
            logo_alt=settings.logo_alt,
            language=language(settings.language),
        ),
        guard=Guard(
            FormTokens(settings.signing_keys),
            parse_limits(settings.rate_limit_ip, settings.rate_limit_address),
            settings.min_fill_time,
            Counts(settings.rate_limit_storage, settings.rate_limit_prefix),
        ),
        notices=parts.notice_sender(),
        base_url=settings.base_url,
        consent_text=settings.consent_shown,
        consent_text_version=settings.consent_text_version,
        resend_window=settings.confirm_resend_window,
        publisher_zone=settings.timezone,
        tracking=settings.tracking,
        proof=(
            ProofOfWork(settings.signing_keys[-1], parts.engine, max_number=settings.altcha_max_number)
            if settings.altcha
            else None
        ),
        renderer=parts.renderer,
        api_tokens=parts.api_tokens,
        event_signatures=(
            EventSignatures(settings.sendgrid_webhook_public_key)
            if settings.sendgrid_webhook_public_key
            else None
        ),
        blocked_in_a_row=settings.blocked_in_a_row,
        provider_counting=parts.provider_counting,
        topic_offer=Offer(tuple(settings.topic_list), settings.topics_lookback),
        tracking_notice=parts.tracking_notice,
        embed=Embed(
            EmbedSites(settings.embed_origin_list, origin_of(settings.base_url) or settings.base_url),
            EmbedTokens(settings.signing_keys),
            Script.load(templates_dir() / "embed" / "embed.js"),
        ),
    )


def answer_errors(app: FastAPI) -> None:
    """The app's answers to what routes raise: pages for people, JSON for the JSON endpoints."""
    app.add_exception_handler(TokenInvalid, subscribe.link_problem)  # type: ignore[arg-type]
    app.add_exception_handler(BodyTooLarge, too_large)  # type: ignore[arg-type]

    @app.exception_handler(TooManyRequests)
    def too_many(request: Request, exc: TooManyRequests) -> Response:
        if request.headers.get("content-type", "").startswith("application/json"):
            return JSONResponse({"error": str(exc)}, 429, headers={"Retry-After": "60"})
        words = app.state.web.pages.gettext
        page = app.state.web.pages.render(
            request, "message.html", 429, title=words(N_("Please wait")), message=words(str(exc)) + "."
        )
        page.headers["Retry-After"] = "60"
        result: HTMLResponse = page
        return result

    @app.exception_handler(HTTPException)
    def http_error(request: Request, exc: HTTPException) -> Response:
        words = app.state.web.pages.gettext
        title = words(N_("Page not found") if exc.status_code == 404 else N_("Request not accepted"))
        message = {
            404: words(N_("There is nothing at this address.")),
            405: words(N_("This address does not take that kind of request.")),
        }.get(exc.status_code, str(exc.detail))
        page: HTMLResponse = app.state.web.pages.render(
            request, "message.html", exc.status_code, title=title, message=message
        )
        page.headers.update(exc.headers or {})
        if exc.status_code == 405:
            page.headers["Allow"] = allowed_methods(app.router.routes, request.scope)
        return page

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # /issues/abc names no page: the same 404 page as any other address, not FastAPI's JSON.
        if any(error["loc"][:1] == ("path",) for error in exc.errors()):
            return http_error(request, HTTPException(404))
        return await request_validation_exception_handler(request, exc)
