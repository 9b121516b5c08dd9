"""Servers shared by the end-to-end tests: the fake WordPress site and the fake X API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.demo.site import SampleSite
from tests.fakes.fake_x import FakeX
from tests.support import fake_x_credentials


@pytest.fixture
def site() -> Iterator[SampleSite]:
    """The bundled sample site (five articles), on a free port of 127.0.0.1."""
    with SampleSite.bundled() as s:
        yield s


@pytest.fixture
def x() -> Iterator[FakeX]:
    """A fake X API v2 that accepts the credentials in ``tests.support.X_ENV``."""
    with FakeX(**fake_x_credentials()) as fake:
        yield fake
