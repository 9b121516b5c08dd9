"""``syndbot user …``, ``syndbot web`` and ``syndbot run`` with ``web.enabled``."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from bot.demo.site import SampleSite
from bot.store import Store
from bot.web.users import Users
from tests.fakes.fake_x import FakeX
from tests.support import ROOT, X_ENV, Daemon, wait_until, write_config


@pytest.fixture
def config_path(
    tmp_path: Path, site: SampleSite, x: FakeX, monkeypatch: pytest.MonkeyPatch
) -> Path:
    for k, v in X_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("SYNDBOT_CONFIG", raising=False)
    return write_config(
        tmp_path / "syndbot.yaml",
        site=site,
        x_url=x.url,
        store=tmp_path / "ledger.db",
        state_dir=str(tmp_path / "state"),
    )


def run(config: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, [*args, "--config", str(config)], input=input)


def users_of(config: Path, tmp_path: Path) -> Users:
    store = Store(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.migrate()
    return Users(store)


def test_user_add_list_disable_token_revoke(config_path: Path, tmp_path: Path) -> None:
    added = run(config_path, "user", "add", "Maria", "--password-stdin", input="long enough pw\n")
    assert added.exit_code == 0, added.output
    assert "added maria (editor)" in added.output
    boss = run(
        config_path,
        "user",
        "add",
        "boss",
        "--role",
        "admin",
        input="a good password\na good password\n",
    )
    assert boss.exit_code == 0, boss.output
    assert (
        run(config_path, "user", "add", "maria", "--password-stdin", input="x" * 12).exit_code == 1
    )
    weak = run(config_path, "user", "add", "jean", "--password-stdin", input="short\n")
    assert weak.exit_code == 1 and "at least 10 characters" in weak.output
    users = users_of(config_path, tmp_path)
    assert users.verify("maria", "long enough pw") is not None
    assert users.verify("boss", "a good password") is not None

    made = run(config_path, "user", "token", "maria", "--label", "WordPress button")
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert token.startswith("sbt_") and "\n" not in token
    assert users.user_for_token(token) is not None

    listed = run(config_path, "user", "list")
    assert "maria" in listed.output and "1 API token" in listed.output
    assert "token #1 of maria: WordPress button" in listed.output
    assert token not in listed.output

    assert run(config_path, "user", "revoke", "1").exit_code == 0
    assert users.user_for_token(token) is None
    assert run(config_path, "user", "revoke", "1").exit_code == 1

    assert run(config_path, "user", "disable", "maria").exit_code == 0
    assert users.verify("maria", "long enough pw") is None
    assert run(config_path, "user", "enable", "maria").exit_code == 0
    changed = run(
        config_path, "user", "password", "maria", "--password-stdin", input="another pw 12\n"
    )
    assert changed.exit_code == 0
    assert users.verify("maria", "another pw 12") is not None
    assert run(config_path, "user", "disable", "nobody").exit_code == 1
    actions = [e.action for e in users.store.list_events()]
    assert {"user-added", "token-created", "token-revoked", "user-disabled"} <= set(actions)


def test_web_and_user_are_documented() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in ("syndbot web", "syndbot user add", "syndbot user token", "syndbot user list"):
        assert command in readme
    assert "docs/screenshots/desk.png" in readme and "docs/screenshots/article.png" in readme
    for shot in ("desk.png", "article.png"):
        assert (ROOT / "docs" / "screenshots" / shot).stat().st_size > 20_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


@pytest.mark.slow
def test_syndbot_web_serves_until_sigterm(config_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "web", "--config", str(config_path), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status, body = wait_until(lambda: (r := _get(f"http://127.0.0.1:{port}/login"))[0] and r)
        assert status == 200 and "Sign in" in body
        assert "No one can sign in yet" in body
        status, _ = _get(f"http://127.0.0.1:{port}/api/v1/deliveries")
        assert status == 401
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert f"syndbot web UI on http://127.0.0.1:{port}/ (waitress)" in out
    assert "syndbot web UI stopped" in out


@pytest.mark.slow
def test_syndbot_run_serves_the_web_ui_when_enabled(
    tmp_path: Path, site: SampleSite, x: FakeX
) -> None:
    port = _free_port()
    path = write_config(
        tmp_path / "daemon.yaml",
        site=site,
        x_url=x.url,
        store=tmp_path / "daemon.db",
        state_dir=str(tmp_path / "daemon-state"),
        web={"enabled": True, "port": port},
    )
    daemon = Daemon(config=path, log=tmp_path / "daemon.log", env=X_ENV).start()
    try:
        status, body = wait_until(
            lambda: (r := _get(f"http://127.0.0.1:{port}/login"))[0] and r,
            what=lambda: daemon.output(),
        )
        assert status == 200 and "Sign in" in body
        assert (tmp_path / "daemon-state" / "web-secret").exists()
        # The daemon handles SIGTERM once it runs (the web UI starts just before it).
        wait_until(lambda: "syndbot running" in daemon.output(), what=daemon.output)
    finally:
        code = daemon.stop()
    assert code == 0, daemon.output()
    assert f"web UI at http://127.0.0.1:{port}" in daemon.output()
    assert _get(f"http://127.0.0.1:{port}/login")[0] == 0  # stopped with the daemon
    help_text = CliRunner().invoke(cli, ["run", "--help"]).output
    assert "the editors' web UI" in help_text
