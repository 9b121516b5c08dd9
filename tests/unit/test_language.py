"""Language tags from pages, feeds and config, reduced to the primary subtag."""

from __future__ import annotations

import pytest

from bot.language import normalize_language


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("en-US", "en"),
        ("fr_FR", "fr"),
        ("FR_fr", "fr"),
        ("english!", None),
        ("ht", "ht"),
        ("EN", "en"),
        (" es-419 ", "es"),
        ("en_US.UTF-8", "en"),
        ("fr-FR,en;q=0.8", "fr"),
        ("hat", "ht"),
        ("iw", "he"),
        ("und", None),
        ("x-default", None),
        ("english", None),
        ("12", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_language(value: str | None, expected: str | None) -> None:
    assert normalize_language(value) == expected
