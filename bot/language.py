"""Language tags: the one place that turns "en-US", "fr_FR" or "hat" into "en", "fr", "ht"."""

from __future__ import annotations

import re

_LANGUAGE_RE = re.compile(r"[A-Za-z]{2,3}")
_NOT_LANGUAGES = frozenset({"und", "mul", "mis", "zxx"})
_LANGUAGE_ALIASES = {
    # deprecated ISO 639-1 codes and the ISO 639-2 codes of languages that have a 2-letter one
    "iw": "he",
    "in": "id",
    "ji": "yi",
    "jw": "jv",
    "mo": "ro",
    "eng": "en",
    "fra": "fr",
    "fre": "fr",
    "hat": "ht",
    "spa": "es",
    "por": "pt",
    "deu": "de",
    "ger": "de",
    "nld": "nl",
    "dut": "nl",
    "ita": "it",
}


def normalize_language(value: object) -> str | None:
    """The primary language subtag, lower-case: "en-US" → "en", "fr_FR" → "fr"; junk → None."""
    if not isinstance(value, str) or not value:
        return None
    token = re.split(r"[,;\s]", value.strip(), maxsplit=1)[0]
    primary = re.split(r"[-_.@]", token, maxsplit=1)[0]
    if not _LANGUAGE_RE.fullmatch(primary):
        return None
    primary = primary.lower()
    if primary in _NOT_LANGUAGES:
        return None
    return _LANGUAGE_ALIASES.get(primary, primary)
