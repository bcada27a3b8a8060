"""Editor sign-in: argon2 password hashes from ``DIGEST_EDITORS``, a signed session cookie, CSRF, limits.

- The session is a cookie signed with ``DIGEST_SECRET_KEYS`` under a salt of its own
  (``digest.editor-session``), so no link, form or API token passes for one, nor one for them. It holds
  the editor's name and a fingerprint of their password hash: changing the hash or removing the editor
  from ``DIGEST_EDITORS`` ends every session at once. It expires after ``DIGEST_EDITOR_SESSION_MAX_AGE``.
  HttpOnly, ``SameSite=Strict``, ``Secure`` on an https site, path ``/editor``.
- Every editor form carries a form token bound to the signed-in editor, and every editor POST whose
  ``Origin`` (or ``Sec-Fetch-Site``) says it comes from another site is refused before anything else.
- Failed sign-ins are counted per IP and per name (``DIGEST_EDITOR_LOGIN_LIMIT``, moving windows in the
  store ``DIGEST_RATE_LIMIT_STORAGE`` names); past the limit, sign-in answers 429 without checking the
  password. An unknown name costs the same argon2 verification as a known one, so timing does not tell
  names apart.
- The argon2 check (about 0.2 s of CPU) runs in a worker thread, never on the event loop, and only a few
  at once: a flood of sign-ins neither stalls other pages nor takes every worker thread from them.
"""

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import Depends, Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from limits import RateLimitItem

from digest.tokens import FormTokens, TokenInvalid, fingerprint
from digest.web.guard import FORM_MAX_AGE, Counts, TooManyRequests, client_ip

COOKIE = "digest_editor"
LOGIN_FORM = "editor-login"
# argon2 is CPU-bound: more checks at once than cores only share the same cores, and leave none to the
# other requests; further sign-ins wait their turn without holding a worker thread.
PASSWORD_CHECKS_AT_ONCE = 2
# Verified when the name is unknown, so a wrong name costs what a wrong password costs.
_DUMMY_HASH = PasswordHasher().hash("not a password anyone has")


class SignInRequired(Exception):
    """No valid editor session: a page redirects to sign-in, anything else is refused with 401."""


class CrossSite(Exception):
    """A state-changing request from another site (or with a forged form token): refused with 403."""


@dataclass
class EditorAuth:
    accounts: dict[str, str]  # name -> argon2 hash
    keys: list[str]
    form_tokens: FormTokens
    login_limits: list[RateLimitItem]
    counts: Counts  # shared with the sign-up guard: one store (``DIGEST_RATE_LIMIT_STORAGE``)
    max_age: timedelta
    base_url: str

    def __post_init__(self) -> None:
        self._sessions = URLSafeTimedSerializer(
            self.keys, salt="digest.editor-session", signer_kwargs={"digest_method": hashlib.sha256}
        )
        self._hasher = PasswordHasher()
        self._password_checks = anyio.CapacityLimiter(PASSWORD_CHECKS_AT_ONCE)
        self.secure = self.base_url.startswith("https://")

    # --- signing in ------------------------------------------------------------------------------

    def check_limits(self, request: Request, name: str) -> None:
        keys = (("ip", client_ip(request)), ("name", name.casefold()))
        for item in self.login_limits:
            for kind, value in keys:
                if not self.counts.test(item, "editor-login", kind, value):
                    raise TooManyRequests("too many failed sign-ins; please wait a while and try again")

    def failed(self, request: Request, name: str) -> None:
        for item in self.login_limits:
            self.counts.hit(item, "editor-login", "ip", client_ip(request))
            self.counts.hit(item, "editor-login", "name", name.casefold())

    async def password_matches(self, name: str, password: str) -> bool:
        """``verify_password`` in a worker thread, a few at a time (see the module's notes)."""
        return await anyio.to_thread.run_sync(
            self.verify_password, name, password, limiter=self._password_checks
        )

    def verify_password(self, name: str, password: str) -> bool:
        known = self.accounts.get(name)
        try:
            return self._hasher.verify(known or _DUMMY_HASH, password) and known is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    # --- the session cookie ----------------------------------------------------------------------

    def start_session(self, response: Response, name: str) -> None:
        token = self._sessions.dumps([name, fingerprint(self.accounts[name])])
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(self.max_age.total_seconds()),
            path="/editor",
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )

    def end_session(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/editor", secure=self.secure, httponly=True, samesite="strict")

    def editor_of(self, request: Request) -> str | None:
        token = request.cookies.get(COOKIE, "")
        if not token:
            return None
        try:
            payload = self._sessions.loads(token, max_age=int(self.max_age.total_seconds()))
        except (BadSignature, UnicodeDecodeError):
            return None
        if not (isinstance(payload, list) and len(payload) == 2 and all(isinstance(p, str) for p in payload)):
            return None
        name, print_ = payload
        current = self.accounts.get(name)
        if current is None or not hmac.compare_digest(fingerprint(current), print_):
            return None
        return str(name)

    # --- forms -----------------------------------------------------------------------------------

    def form_token(self, editor: str) -> str:
        return self.form_tokens.issue(f"editor:{editor}")

    def check_form(self, request: Request, editor: str, token: str) -> None:
        """CSRF: same site, and a form token served to this editor; ``CrossSite`` otherwise."""
        self.check_origin(request)
        try:
            self.form_tokens.age(token, f"editor:{editor}", max_age=FORM_MAX_AGE)
        except TokenInvalid as exc:
            raise CrossSite(str(exc)) from exc

    def check_origin(self, request: Request) -> None:
        # Browsers send Sec-Fetch-Site and cannot be made to lie in it. Without it, fall back on Origin
        # (which is "null" from our pages, as they send no referrer; "null" is then refused).
        site = request.headers.get("sec-fetch-site")
        if site is not None:
            if site not in ("same-origin", "none"):
                raise CrossSite("requests from other sites are refused")
            return
        origin = request.headers.get("origin")
        if origin is not None and origin not in self.own_origins(request):
            raise CrossSite("requests from other sites are refused")

    def own_origins(self, request: Request) -> set[str]:
        base = urlsplit(self.base_url)
        return {f"{base.scheme}://{base.netloc}", f"{request.url.scheme}://{request.url.netloc}"}


def editor_auth(request: Request) -> EditorAuth:
    auth: EditorAuth = request.app.state.editor_auth
    return auth


def signed_in(request: Request) -> str:
    """The signed-in editor's name; ``SignInRequired`` without a valid session."""
    name = editor_auth(request).editor_of(request)
    if name is None:
        raise SignInRequired
    return name


EditorDep = Annotated[str, Depends(signed_in)]
AuthDep = Annotated[EditorAuth, Depends(editor_auth)]
