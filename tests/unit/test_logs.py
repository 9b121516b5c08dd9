"""Log lines: text or JSON, with the source / article / account they are about, and no secret."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from bot.logs import (
    ContextFilter,
    JsonFormatter,
    RedactingFormatter,
    current_context,
    log_context,
    setup_logging,
)

SECRET = "s3cr3t-token-value"


def _logger(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(ContextFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"bot.test-logs.{id(out)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, out


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    bot_level = logging.getLogger("bot").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("bot").setLevel(bot_level)


def test_context_nests_and_is_restored() -> None:
    assert current_context() == {}
    with log_context(source="ctn"):
        with log_context(article=12, account="x-main"):
            assert current_context() == {"source": "ctn", "article": "12", "account": "x-main"}
        with log_context(source="other"):
            assert current_context() == {"source": "other"}
        assert current_context() == {"source": "ctn"}
    assert current_context() == {}


def test_context_stays_in_its_thread() -> None:
    seen: list[dict[str, str]] = []
    with log_context(source="ctn"):
        t = threading.Thread(target=lambda: seen.append(dict(current_context())))
        t.start()
        t.join()
    assert seen == [{}]


def test_text_lines_end_with_the_context_and_keep_tracebacks_after_it() -> None:
    logger, out = _logger(RedactingFormatter())
    logger.info("no context here")
    with log_context(source="ctn", article=7, account="x-main"):
        logger.info("posted %s", "https://example.org/a")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("it failed")
    lines = out.getvalue().splitlines()
    assert lines[0].endswith(": no context here")
    assert lines[1].endswith("posted https://example.org/a [source=ctn article=7 account=x-main]")
    assert lines[2].endswith("it failed [source=ctn article=7 account=x-main]")
    assert lines[3] == "Traceback (most recent call last):"
    assert lines[-1] == "RuntimeError: boom"


def test_extra_fields_win_over_the_context() -> None:
    logger, out = _logger(JsonFormatter())
    with log_context(source="ctn", account="x-main"):
        logger.info("waits", extra={"account": "mastodon-fr", "delivery": 4})
    entry = json.loads(out.getvalue())
    assert (entry["source"], entry["account"], entry["delivery"]) == ("ctn", "mastodon-fr", "4")


def test_json_lines_carry_level_logger_message_and_fields() -> None:
    logger, out = _logger(JsonFormatter())
    with log_context(source="ctn", article=3, account="x-main", delivery=9):
        logger.warning("delivery %d: %s", 9, "rate limited")
    logger.debug("plain")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["level"] == "warning"
    assert first["logger"] == logger.name
    assert first["message"] == "delivery 9: rate limited"
    assert {k: first[k] for k in ("source", "article", "account", "delivery")} == {
        "source": "ctn",
        "article": "3",
        "account": "x-main",
        "delivery": "9",
    }
    assert first["time"].endswith("+00:00")
    assert "source" not in second and "account" not in second
    assert second["message"] == "plain"


def test_json_lines_never_show_a_secret() -> None:
    logger, out = _logger(JsonFormatter([SECRET]))
    with log_context(source="ctn", article=f"https://s.example/?t={SECRET}", account="x-main"):
        logger.info("calling with %s and access_token=abcdef123", SECRET)
        try:
            raise ValueError(f"bad token {SECRET}")
        except ValueError:
            logger.exception("failed: Authorization: Bearer abcdefghijkl")
    text = out.getvalue()
    assert SECRET not in text
    assert "abcdef123" not in text and "abcdefghijkl" not in text
    entries = [json.loads(line) for line in text.splitlines()]
    assert entries[0]["message"] == "calling with *** and access_token=***"
    assert entries[0]["article"] == "https://s.example/?t=***"
    assert "ValueError: bad token ***" in entries[1]["exception"]


def test_setup_logging_json_to_stderr_redacts_configured_secrets(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    setup_logging("debug", [SECRET], "json")
    log = logging.getLogger("bot.pipeline")
    with log_context(source="ctn", account="x-main"):
        log.info("using key %s", SECRET)
    logging.getLogger("urllib3.connectionpool").warning("GET /x?api_key=%s", SECRET)
    err = capsys.readouterr().err
    assert SECRET not in err
    entries = [json.loads(line) for line in err.splitlines()]
    assert entries[0]["message"] == "using key ***"
    assert (entries[0]["source"], entries[0]["account"]) == ("ctn", "x-main")
    assert entries[1]["logger"] == "urllib3.connectionpool"


def test_setup_logging_follows_the_environment(
    capsys: pytest.CaptureFixture[str], restore_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNDBOT_LOG_FORMAT", "json")
    setup_logging("info")
    logging.getLogger("bot").info("hello")
    assert json.loads(capsys.readouterr().err)["message"] == "hello"
    monkeypatch.setenv("SYNDBOT_LOG_FORMAT", "text")
    setup_logging("info")
    logging.getLogger("bot").info("hello")
    assert capsys.readouterr().err.rstrip().endswith("INFO    bot: hello")
    with pytest.raises(ValueError, match="unknown log format"):
        setup_logging("info", fmt="xml")
