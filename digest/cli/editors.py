"""``digest editors token``: API tokens for the push API."""

from typing import Annotated

import typer

from digest.cli.base import editors_app, open_parts, reports_errors
from digest.errors import InvalidInput, NotFound
from digest.tokens import Scope


@editors_app.command("token")
@reports_errors
def editors_token(
    name: Annotated[str, typer.Argument(help="An editor named in DIGEST_EDITORS.")],
    scope: Annotated[
        list[Scope] | None,
        typer.Option(
            help="What the token may do, once per scope: summaries (POST /api/summaries, the default), "
            "sign-ups (POST /api/subscribers), proven-consent (sign-ups made active at once).",
        ),
    ] = None,
) -> None:
    """Print an API token (Authorization: Bearer TOKEN) for the scopes named.

    It works until the editor leaves DIGEST_EDITORS, changes password hash, or every key of
    DIGEST_SECRET_KEYS that could have signed it is gone.
    """
    parts = open_parts()
    if name not in parts.settings.editor_accounts:
        raise NotFound(f"{name!r} is not an editor: add name:argon2-hash to DIGEST_EDITORS first")
    scopes = set(scope or [Scope.summaries])
    if Scope.proven_consent in scopes and Scope.sign_ups not in scopes:
        raise InvalidInput("--scope proven-consent goes with --scope sign-ups")
    typer.echo(parts.api_tokens.issue(name, scopes))
