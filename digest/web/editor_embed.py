"""``/editor/embed``: the sign-up form for other sites, ready to copy for this site, with a live preview.

Behind an editor's session like every editor page. The preview is the snippet itself, in the page, with
its script: a sign-up made there is a real one, from this site's own origin.
"""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from digest.web.context import WebDep
from digest.web.editor_auth import AuthDep, EditorDep
from digest.web.embed import embed_of, snippet, snippet_name

router = APIRouter()
NONCE = 'nonce="'


@router.get("/editor/embed", response_class=HTMLResponse)
def embed_page(
    request: Request, editor: EditorDep, web: WebDep, auth: AuthDep, form: str = "", topics: str = "yes"
) -> HTMLResponse:
    name = snippet_name(form or "summary-page")
    with_topics = topics == "yes"
    page: HTMLResponse = web.pages.render(
        request,
        "editor/embed.html",
        editor=editor,
        form_token=auth.form_token(editor),
        form_name=name,
        with_topics=with_topics,
        origins=embed_of(web).sites.allowed,
        code=snippet(web, name, with_topics=with_topics),
        frame_code=framed(web.base_url, name, web.pages.site_name),
        preview_of=lambda nonce: snippet(web, name, with_topics=with_topics, nonce=nonce),
    )
    # The preview's script fetches its timestamp and posts the sign-up to this site.
    page.headers["Content-Security-Policy"] += "; connect-src 'self'; frame-src 'self'"
    return page


def framed(base_url: str, name: str, site_name: str) -> str:
    """The iframe variant's code."""
    return (
        f'<iframe src="{base_url}/embed/form?form={name}" title="Subscribe to the {site_name}" '
        'style="width:100%;max-width:36rem;height:40rem;border:0"></iframe>'
    )
