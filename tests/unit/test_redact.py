"""Log and output redaction: configured secrets and credential-shaped strings never show."""

from __future__ import annotations

import pytest

from bot.cli import redact


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("GET /me?access_token=EAAB123xyz&fields=id", "GET /me?access_token=***&fields=id"),
        ("refresh_token=abc.def-123 expired", "refresh_token=*** expired"),
        ("Authorization: Bearer ya29.a0AfH6SMBx-long", "Authorization: Bearer ***"),
        (
            "POST /bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage",
            "POST /bot***/sendMessage",
        ),
        ("key is s3cr3t-value here", "key is *** here"),
        ("nothing secret in a plain sentence", "nothing secret in a plain sentence"),
    ],
)
def test_redact(text: str, shown: str) -> None:
    assert redact(text, ["s3cr3t-value"]) == shown
