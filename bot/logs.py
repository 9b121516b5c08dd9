"""Logging: human-readable lines (default) or JSON lines, both with secrets blanked, and the
source / article / account a line is about.

The pipeline wraps its per-source, per-article and per-delivery work in ``log_context(...)``;
every record logged inside (in that thread) carries those fields: in JSON as keys, in text as a
``[source=… article=… account=…]`` suffix. Context variables do not cross into other threads, so
each scheduler job sets its own.

``setup_logging(level, secrets, fmt)`` installs one stderr handler on the root logger.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

LOG_FORMAT_ENV = "SYNDBOT_LOG_FORMAT"
LOG_FORMATS = ("text", "json")
FIELDS = ("source", "article", "account", "delivery")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

_EMPTY: Mapping[str, str] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "syndbot_log_context", default=_EMPTY
)


@contextmanager
def log_context(
    *,
    source: str | None = None,
    article: str | int | None = None,
    account: str | None = None,
    delivery: int | None = None,
) -> Iterator[None]:
    """Within the block, log records carry these fields (added to those of an outer block;
    ``None`` keeps the outer value)."""
    given = {"source": source, "article": article, "account": account, "delivery": delivery}
    merged = {**_context.get(), **{k: str(v) for k, v in given.items() if v is not None}}
    token = _context.set(MappingProxyType(merged))
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> Mapping[str, str]:
    """The fields ``log_context`` has set in this thread."""
    return _context.get()


# --- redaction -------------------------------------------------------------------------------

# Credentials syndbot obtains itself (refreshed tokens) are not in the config: blank anything
# that looks like one, too.
_CREDENTIAL_PATTERNS = (
    (
        re.compile(
            r"(?i)\b(access_token|refresh_token|client_secret|app_password|password|api_key)=[^&\s\"']+"
        ),
        r"\1=***",
    ),
    (re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 ***"),
    (re.compile(r"/bot\d+:[A-Za-z0-9_-]{20,}"), "/bot***"),
)


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every configured secret, and anything shaped like a credential, blanked."""
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    for pattern, replacement in _CREDENTIAL_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


# --- formatters ------------------------------------------------------------------------------


def _fields(record: logging.LogRecord) -> dict[str, str]:
    """The context fields of a record: ``extra={...}`` given to the call wins over the context."""
    out = dict(getattr(record, "syndbot_context", None) or {})
    for name in FIELDS:
        value = record.__dict__.get(name)
        if value is not None:
            out[name] = str(value)
    return out


class ContextFilter(logging.Filter):
    """Copies the current ``log_context`` onto each record (as ``record.syndbot_context``),
    in the thread that logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "syndbot_context"):
            record.syndbot_context = dict(_context.get())
        return True


class RedactingFormatter(logging.Formatter):
    """A text line, ``[source=… article=… account=…]`` appended when the record has context;
    then every configured secret value is replaced with ``***``."""

    def __init__(self, fmt: str = TEXT_FORMAT, secrets: Iterable[str] = ()) -> None:
        super().__init__(fmt, datefmt="%Y-%m-%d %H:%M:%S")
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _fields(record)
        if fields:
            suffix = " ".join(f"{k}={fields[k]}" for k in FIELDS if k in fields)
            head, sep, tail = line.partition("\n")  # after the message, before a traceback
            line = f"{head} [{suffix}]{sep}{tail}"
        return redact(line, self.secrets)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
    the context fields present (``source``, ``article``, ``account``, ``delivery``) and
    ``exception`` (the traceback) when there is one. Every value is redacted."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        clean = {k: redact(v, self.secrets) if isinstance(v, str) else v for k, v in entry.items()}
        return json.dumps(clean, ensure_ascii=False)


def log_format_from_env(default: str = "text") -> str:
    """``$SYNDBOT_LOG_FORMAT`` when it names a format, else ``default``."""
    value = os.environ.get(LOG_FORMAT_ENV, "").strip().lower()
    return value if value in LOG_FORMATS else default


def setup_logging(level: str, secrets: Iterable[str] = (), fmt: str | None = None) -> None:
    """Log to stderr: ``bot.*`` at ``level``, everything else at WARNING; ``fmt`` is ``text``
    or ``json`` (default: ``$SYNDBOT_LOG_FORMAT``, else text)."""
    fmt = (fmt or log_format_from_env()).lower()
    if fmt not in LOG_FORMATS:
        raise ValueError(f"unknown log format {fmt!r} (use text or json)")
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(
        JsonFormatter(secrets) if fmt == "json" else RedactingFormatter(TEXT_FORMAT, secrets)
    )
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("bot").setLevel(level.upper())
    # Our jobs log their own failures; APScheduler's "skipped: already running" is noise here.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
