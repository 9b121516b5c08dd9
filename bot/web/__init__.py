"""The editors' web UI and JSON API: ``syndbot web``, or inside ``syndbot run`` when enabled.

Server-rendered Flask + Jinja2 pages, a few lines of JavaScript (the live length counter) and
one small stylesheet. Every editor action goes through ``bot.pipeline.Pipeline`` (never a
platform SDK), so it is fitted, queued, delivered and audited exactly like the CLI's.

Modules::

    users.py     people and API tokens (tables ``users``, ``api_tokens``), the audit helper
    security.py  the session secret, CSRF tokens, login throttling, security headers
    queries.py   read-only listings the store does not have (the log's filters, the desk)
    app.py       ``create_app(pipeline)``: sessions, the login wall, error pages, filters
    views.py     the pages: desk, article, repost, log, account, admin; ``/api/length``
    api.py       ``/api/v1``: token-authenticated JSON for a CMS button
    server.py    waitress (or Werkzeug's server) in the foreground or in a thread
    cli.py       ``syndbot web`` and ``syndbot user …``; ``syndbot run`` serves the UI too

Importing this package imports nothing else: ``bot.cli`` loads ``bot.web.cli`` for every
command, and Flask is only imported when a web command runs.
"""
