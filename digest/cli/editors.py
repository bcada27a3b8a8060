"""``digest editors token``: API tokens for the push API."""

from typing import Annotated

import typer

from digest.cli.base import editors_app, open_parts, reports_errors
from digest.errors import NotFound


@editors_app.command("token")
@reports_errors
def editors_token(name: Annotated[str, typer.Argument(help="An editor named in DIGEST_EDITORS.")]) -> None:
    """Print an API token for POST /api/summaries (Authorization: Bearer TOKEN).

    It works until the editor leaves DIGEST_EDITORS, changes password hash, or every key of
    DIGEST_SECRET_KEYS that could have signed it is gone.
    """
    parts = open_parts()
    if name not in parts.settings.editor_accounts:
        raise NotFound(f"{name!r} is not an editor: add name:argon2-hash to DIGEST_EDITORS first")
    typer.echo(parts.api_tokens.issue(name))
