"""The web app (FastAPI): subscribe, confirm, unsubscribe, preferences and the public archive.

Routes parse the request, call one service inside one unit of work, and send any email only after the
commit, in a background task. May import ``wiring``, the use-case packages, ``rendering``, ``tokens``, ``db``.
"""
