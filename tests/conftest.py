"""Fixtures for every test directory: the ledger on SQLite and on a real PostgreSQL server.

``ledger_url`` is parametrised: a test that takes it runs once on a fresh SQLite file and once
on a fresh schema of a real PostgreSQL server (``SYNDBOT_TEST_POSTGRES``, set by ``.ci/run``, or
a server this session starts from the machine's PostgreSQL binaries).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from tests import pgserver
from tests.support import close_open_stores


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    """Ledgers opened with ``tests.support.open_store`` are closed after each test."""
    yield
    close_open_stores()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The base URL of a PostgreSQL server the tests may create schemas in."""
    url = os.environ.get("SYNDBOT_TEST_POSTGRES")
    if url:
        yield url
        return
    directory = Path(tempfile.mkdtemp(prefix="syndbot-pg-"))
    try:
        url = pgserver.start(directory)
    except pgserver.PostgresUnavailable as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield url
    finally:
        pgserver.stop(directory)


def postgres_schema_url(server: str) -> Iterator[str]:
    """A fresh, empty schema on ``server``; the URL points ``search_path`` at it."""
    name = f"t_{secrets.token_hex(6)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    sep = "&" if "?" in server else "?"
    try:
        yield f"{server}{sep}options={quote(f'-csearch_path={name}')}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A ledger URL on a fresh PostgreSQL schema."""
    yield from postgres_schema_url(postgres_server)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh ledger URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        yield from postgres_schema_url(request.getfixturevalue("postgres_server"))
