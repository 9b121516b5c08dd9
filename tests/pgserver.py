"""A throwaway PostgreSQL server for the tests, from the machine's own PostgreSQL binaries.

``python -m tests.pgserver start DIR`` makes a cluster in DIR, starts it on a free port of
127.0.0.1 and prints its URL (``postgresql+psycopg://postgres@127.0.0.1:PORT/postgres``);
``python -m tests.pgserver stop DIR`` stops it. ``.ci/run`` starts one and hands its URL to the
tests in ``SYNDBOT_TEST_POSTGRES``; without that variable the test session starts its own
(tests/conftest.py) and stops it at the end.

PostgreSQL refuses to run as root: as root, the cluster belongs to the ``postgres`` user that
Debian's package creates, and its commands run through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

SERVER_USER = "postgres"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries here (install Debian's ``postgresql`` package)."""


def _bindir() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if not candidates:
        raise PostgresUnavailable(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's "
            "'postgresql' package, or set SYNDBOT_TEST_POSTGRES to a server's URL"
        )
    return Path(candidates[0]).parent


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", SERVER_USER, "--", *cmd]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(directory: Path) -> str:
    """Create and start a cluster in ``directory``; return its URL."""
    bindir = _bindir()
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / "data"
    if os.geteuid() == 0:
        shutil.chown(directory, SERVER_USER)
        directory.chmod(0o755)
    run = _as_server_user
    subprocess.run(
        run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = _free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={directory} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
    )
    subprocess.run(
        run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(directory / "server.log"),
                "-o",
                options,
                "-w",
                "start",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"


def stop(directory: Path) -> None:
    subprocess.run(
        _as_server_user(
            [str(_bindir() / "pg_ctl"), "-D", str(directory / "data"), "-m", "fast", "-w", "stop"]
        ),
        check=False,
        stdout=subprocess.DEVNULL,
    )


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in {"start", "stop"}:
        print("usage: python -m tests.pgserver start|stop DIR", file=sys.stderr)
        return 2
    directory = Path(argv[1]).resolve()
    if argv[0] == "start":
        print(start(directory))
    else:
        stop(directory)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
