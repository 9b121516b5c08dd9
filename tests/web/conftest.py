"""The web UI against the sample WordPress site and the fake X API, in-process."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.config import Config, load_config
from bot.demo.site import SampleSite
from bot.pipeline import Pipeline
from bot.store import Store
from bot.web.app import create_app
from bot.web.security import LoginThrottle
from bot.web.users import Users
from tests.fakes.fake_x import FakeX
from tests.support import X_ENV, fake_x_credentials, write_config

PASSWORD = "correct horse battery"
RUTO = 37070


class FakeClock:
    """Seconds for the login throttle, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def site() -> Iterator[SampleSite]:
    with SampleSite.bundled() as s:
        yield s


@pytest.fixture
def x() -> Iterator[FakeX]:
    with FakeX(**fake_x_credentials()) as fake:
        yield fake


@pytest.fixture
def config(tmp_path: Path, site: SampleSite, x: FakeX, monkeypatch: pytest.MonkeyPatch) -> Config:
    for k, v in X_ENV.items():
        monkeypatch.setenv(k, v)
    path = write_config(
        tmp_path / "syndbot.yaml",
        site=site,
        x_url=x.url,
        store=tmp_path / "ledger.db",
        state_dir=str(tmp_path / "state"),
        extra_accounts=[
            {"id": "dry-run", "platform": "console", "template": "{title}\n{summary}\n{url}"}
        ],
    )
    return load_config(path)


@pytest.fixture
def pipeline(config: Config) -> Iterator[Pipeline]:
    store = Store(config.store)
    store.migrate()
    p = Pipeline(config, store, owner="web-test", rng=random.Random(1))
    for source in config.sources:
        p.poll(source)  # first run: the five sample articles are recorded, nothing posted
    yield p
    p.close()
    store.close()


@pytest.fixture
def users(pipeline: Pipeline) -> Users:
    u = Users(pipeline.store)
    u.add("maria", PASSWORD, "editor", actor="test")
    u.add("boss", PASSWORD, "admin", actor="test")
    return u


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(pipeline: Pipeline, users: Users, clock: FakeClock) -> Flask:
    return create_app(pipeline, throttle=LoginThrottle(clock=clock))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def sign_in(client: FlaskClient, name: str = "maria", password: str = PASSWORD) -> str:
    """Sign in; returns the session's CSRF token."""
    page = client.get("/login")
    response = client.post(
        "/login", data={"name": name, "password": password, "csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 302, response.text
    return csrf_of(client.get("/").text)
