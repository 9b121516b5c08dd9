"""The daemon: APScheduler runs the pipeline's jobs. Nothing else imports apscheduler.

Jobs: one ``poll:<source>`` per enabled source (its interval, with jitter; the first poll runs
at start), one ``deliver`` job that processes new articles and sends what is due, and one
``recheck`` job that notices unpublished articles. A poll that
finds new articles wakes the deliver job at once. SIGTERM and SIGINT stop the daemon cleanly: no
new job starts, the post being sent is finished and recorded, then the process exits.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.errors import BotError
from bot.metrics import Metrics
from bot.pipeline import Pipeline

if TYPE_CHECKING:
    from bot.monitor import MonitorServer

log = logging.getLogger(__name__)

DELIVER_JOB = "deliver"


class Daemon:
    """Runs a Pipeline until stopped. Constructing one starts nothing."""

    def __init__(self, pipeline: Pipeline, *, max_workers: int = 8) -> None:
        self.pipeline = pipeline
        self.stopping = threading.Event()
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC",
        )
        pipeline.on_queued = self.wake_delivery
        self.started = threading.Event()  # the ledger is recovered and the jobs are scheduled
        self.metrics: Metrics | None = None
        if pipeline.config.monitor.enabled:
            self.metrics = Metrics(pipeline)  # also pipeline.metrics

    @property
    def scheduler_running(self) -> bool:
        thread = getattr(self._scheduler, "_thread", None)
        return bool(self._scheduler.running) and (thread is None or thread.is_alive())

    @property
    def phase(self) -> str:
        """``starting``, ``running`` or ``stopping`` (for ``/readyz``)."""
        if self.stopping.is_set():
            return "stopping"
        return "running" if self.started.is_set() else "starting"

    def _schedule(self) -> None:
        config = self.pipeline.config
        now = self.pipeline.clock()
        for source in config.sources:
            if not source.enabled:
                continue
            self._scheduler.add_job(
                self._poll_job,
                IntervalTrigger(
                    seconds=source.every, jitter=source.effective_jitter, timezone="UTC"
                ),
                args=[source.id],
                id=f"poll:{source.id}",
                name=f"poll {source.id}",
                next_run_time=now,
            )
        if config.recheck.enabled:
            self._scheduler.add_job(
                self._recheck_job,
                IntervalTrigger(seconds=min(config.recheck.every, 300.0), timezone="UTC"),
                id="recheck",
                name="recheck unpublished articles",
                next_run_time=now + timedelta(seconds=5),
            )
        self._scheduler.add_job(
            self._deliver_job,
            IntervalTrigger(seconds=config.deliver_every, timezone="UTC"),
            id=DELIVER_JOB,
            name="deliver",
            next_run_time=now + timedelta(seconds=0.5),
        )

    def _poll_job(self, source_id: str) -> None:
        if self.stopping.is_set():
            return
        try:
            source = self.pipeline.config.source(source_id)
            report = self.pipeline.poll(source)
            if report.new:
                self.wake_delivery()
        except Exception:  # a job must never die silently; the next run tries again
            log.exception("source %s: poll job failed", source_id, extra={"source": source_id})

    def _deliver_job(self) -> None:
        try:
            if not self.stopping.is_set():
                self.pipeline.process_new()
            if not self.stopping.is_set():
                self.pipeline.deliver_due(stop=self.stopping)
        except Exception:
            log.exception("deliver job failed")

    def _recheck_job(self) -> None:
        if self.stopping.is_set():
            return
        try:
            self.pipeline.recheck_unpublished()
        except Exception:
            log.exception("recheck job failed")

    def wake_delivery(self) -> None:
        """Run the deliver job now (new articles or a repost are waiting)."""
        if self.stopping.is_set() or not self._scheduler.running:
            return
        try:
            self._scheduler.modify_job(DELIVER_JOB, next_run_time=self._now())
        except Exception:  # the job may be gone while shutting down
            log.debug("could not wake the deliver job", exc_info=True)

    def _now(self) -> datetime:
        return self.pipeline.clock()

    def stop(self, *_: Any) -> None:
        """Ask the daemon to stop (safe from a signal handler)."""
        if not self.stopping.is_set():
            log.info("stopping: finishing the post in flight")
        self.stopping.set()

    def run(self, *, install_signals: bool = True) -> int:
        """Run until ``stop()`` (or SIGTERM/SIGINT). Returns the exit code."""
        if install_signals:
            self._install_signals()
        monitor = self._start_monitor()
        try:
            return self._run()
        finally:
            if monitor is not None:
                monitor.stop()

    def _run(self) -> int:
        self.pipeline.recover()
        self._schedule()
        self._scheduler.start()
        self.started.set()
        config = self.pipeline.config
        log.info(
            "syndbot running: %d source(s), %d account(s), store %s",
            sum(1 for s in config.sources if s.enabled),
            sum(1 for a in config.accounts if a.enabled),
            self.pipeline.store.url.render_as_string(hide_password=True),
        )
        try:
            while not self.stopping.wait(1.0):
                pass
        finally:
            self._scheduler.shutdown(wait=True)
            self.pipeline.close()
            log.info("syndbot stopped")
        return 0

    def _start_monitor(self) -> MonitorServer | None:
        """``/healthz``, ``/readyz`` and ``/metrics`` when ``monitor.enabled``."""
        cfg = self.pipeline.config.monitor
        if self.metrics is None:
            return None
        from bot.monitor import Monitor, MonitorServer

        try:
            server = MonitorServer(Monitor(self, self.metrics), cfg.host, cfg.port)
        except OSError as e:
            raise BotError(f"monitor: cannot listen on {cfg.host}:{cfg.port}: {e}") from e
        return server.start()

    def _install_signals(self) -> None:
        def handler(signum: int, _frame: FrameType | None) -> None:
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
