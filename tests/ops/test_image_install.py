"""The image's default command works from a plain, non-editable install — as in the container.

No Docker engine runs here or in CI, so the image is reproduced step by step from the
Dockerfile itself: the builder stage's COPY lines make a build context with only those files,
its RUN lines make a fresh virtualenv and `pip install '.[postgres]'` into it (from PyPI, with
pip's cache), and the final stage's ENTRYPOINT + CMD run with its ENV, its WORKDIR, HOME in the
data volume and a clean environment. /opt/syndbot, /config and /data become directories in tmp.

Then the daemon must poll a local sample site, post through the console publisher, record it
in the ledger, keep its files in "/data" only, and exit 0 on SIGTERM.
"""

from __future__ import annotations

import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from bot.demo.site import SampleSite
from tests.ops import deployfiles as df
from tests.ops.test_docker import free_port, run_check
from tests.support import ROOT, story, wait_until

pytestmark = pytest.mark.slow


@dataclass
class Image:
    """The image's filesystem, mapped into a temporary directory."""

    root: Path

    def path(self, inside: str) -> str:
        """Where an absolute path of the image lives here."""
        for top in ("/opt/syndbot", "/config", "/data"):
            if inside == top or inside.startswith(top + "/"):
                return str(self.root / top.strip("/")) + inside[len(top) :]
        return inside

    def translate(self, text: str) -> str:
        for top in ("/opt/syndbot", "/config", "/data"):
            text = text.replace(top, self.path(top))
        return text


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    """The builder stage, run here once per session: copy the context, run its RUN lines."""
    img = Image(tmp_path_factory.mktemp("image"))
    builder = df.stages()[0]
    workdir = Path(str(img.root) + builder.last("WORKDIR").args)
    workdir.mkdir(parents=True)
    for copy in builder.all("COPY"):
        assert not copy.options(), "the builder copies from the build context only"
        *sources, dest = copy.args.split()
        into_dir = dest.endswith("/") or len(sources) > 1
        for source in sources:
            # Docker's rules: a directory's contents go to dest; a file goes to dest, or into
            # it when dest is a directory.
            if (ROOT / source).is_dir():
                shutil.copytree(
                    ROOT / source,
                    workdir / dest,
                    dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.py[cod]"),
                )
            else:
                target = workdir / dest / Path(source).name if into_dir else workdir / dest
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / source, target)
    for run in builder.all("RUN"):
        argv = [img.translate(word) for word in shlex.split(run.args)]
        if argv[0] == "python":
            argv[0] = sys.executable
        result = subprocess.run(
            argv, cwd=workdir, capture_output=True, text=True, timeout=400, check=False
        )
        assert result.returncode == 0, f"RUN {run.args} failed:\n{result.stdout}\n{result.stderr}"
    return img


@dataclass
class Container:
    command: list[str]
    env: dict[str, str]
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, out: Path) -> None:
        with out.open("wb") as log:
            self.proc = subprocess.Popen(
                self.command,
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )


def output(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def site() -> Iterator[SampleSite]:
    with SampleSite.bundled() as s:
        yield s


def container_config(image: Image, site: SampleSite, monitor_port: int) -> str:
    """deploy/docker/syndbot.yaml with the sample site and a console account instead of the
    newsroom's feed and X account; everything else (store, state_dir, monitor) as shipped."""
    data = df.docker_config_data()
    data["store"] = image.translate(data["store"])  # still ${SYNDBOT_STORE:-sqlite:///…}
    data["state_dir"] = image.path(data["state_dir"])
    # The monitor on a free port, and on loopback only: this is no container.
    data["monitor"] = {**data["monitor"], "host": "127.0.0.1", "port": monitor_port}
    data["deliver_every"] = "0.3s"
    data["sources"] = [
        {"id": "sample", "feed": f"{site.url}/feed/", "every": "1s", "first_run": "latest:1"}
    ]
    data["accounts"] = [{"id": "console-en", "platform": "console", "template": "{title} {url}"}]
    data["routes"] = [{"from": ["sample"], "to": ["console-en"]}]
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def test_image_command_polls_posts_and_stops_cleanly_from_a_plain_install(
    image: Image, site: SampleSite, tmp_path: Path
) -> None:
    final = df.stages()[-1]
    data_dir = Path(image.path(final.last("WORKDIR").args))
    if data_dir.exists():  # the session's image is shared; each container gets a new volume
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    env = {k: image.translate(v) for k, v in final.env().items()}
    env["PATH"] = env["PATH"].replace("$PATH", "/usr/local/bin:/usr/bin:/bin")
    env |= {"HOME": str(data_dir), "LANG": "C.UTF-8"}  # useradd --home-dir /data
    config = Path(env["SYNDBOT_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    monitor_port = free_port()
    config_text = container_config(image, site, monitor_port)
    config.write_text(config_text)
    monitored = "monitor:" in config_text

    command = df.image_command()
    executable = shutil.which(command[0], path=env["PATH"])
    assert executable == image.path("/opt/syndbot/bin/syndbot")  # the installed script
    container = Container([executable, *command[1:]], env, data_dir)
    log = tmp_path / "container.log"
    container.start(log)
    assert container.proc is not None
    try:
        newest = site.articles()[0]
        wait_until(
            lambda: "── console-en · as x" in output(log) and newest.title in output(log),
            timeout=60,
            what=lambda: f"the newest sample article posted; output:\n{output(log)}",
        )
        fresh = site.add(story(site, "Port-au-Prince opens a new public library"))
        wait_until(
            lambda: fresh.title in output(log),
            timeout=30,
            what=lambda: f"the new article posted; output:\n{output(log)}",
        )
        if monitored:  # the image's HEALTHCHECK, against the running daemon
            healthcheck = final.last("HEALTHCHECK").exec_form()
            wait_until(lambda: run_check(healthcheck, monitor_port) == 0, timeout=10)
        container.proc.send_signal(signal.SIGTERM)
        assert container.proc.wait(timeout=30) == 0, output(log)
    finally:
        if container.proc.poll() is None:
            container.proc.kill()
            container.proc.wait(timeout=10)

    assert sum(site.hits("/feed/").values()) >= 2  # polled on its interval, not once
    with sqlite3.connect(data_dir / "syndbot.db") as db:
        sent = db.execute(
            "SELECT a.title FROM deliveries d JOIN articles a ON a.id = d.article_id "
            "WHERE d.state = 'sent' ORDER BY d.id"
        ).fetchall()
    assert [title for (title,) in sent] == [newest.title, fresh.title]
    # Everything the daemon wrote is in the data volume, and it is the ledger: no cache in
    # HOME, nothing in the working directory (the image's root filesystem can be read-only).
    written = {p.name for p in data_dir.iterdir()}
    assert written <= {"syndbot.db", "syndbot.db-wal", "syndbot.db-shm"}, written
