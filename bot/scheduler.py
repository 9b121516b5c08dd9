"""The daemon: APScheduler runs the pipeline's jobs. Nothing else imports apscheduler.

Jobs: one ``poll:<source>`` per enabled source (its interval, with jitter; the first poll runs
at start), one ``deliver`` job that processes new articles and sends what is due, and one
``recheck`` job that notices unpublished articles. A poll that
finds new articles wakes the deliver job at once. SIGTERM and SIGINT stop the daemon cleanly: no
new job starts, the post being sent is finished and recorded, then the process exits. With a
config path, a ``config-watch`` job reloads the file on SIGHUP or when it changes (``bot.reload``).
With ``websub:`` configured, a ``websub`` job keeps the hub subscriptions (``bot.websub``) and an
authentic push polls its source at once (``poll_now``; one poll of a source at a time).
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

from bot.config import Config, SourceConfig
from bot.errors import BotError
from bot.metrics import Metrics
from bot.pipeline import Pipeline
from bot.reload import ConfigChange, Reloader

if TYPE_CHECKING:
    from bot.monitor import MonitorServer
    from bot.websub import WebSub, WebSubListener

log = logging.getLogger(__name__)

DELIVER_JOB = "deliver"
RECHECK_JOB = "recheck"
WATCH_JOB = "config-watch"


class Daemon:
    """Runs a Pipeline until stopped. Constructing one starts nothing."""

    def __init__(
        self, pipeline: Pipeline, *, max_workers: int = 8, config_path: str | None = None
    ) -> None:
        self.pipeline = pipeline
        self.reloader = (
            Reloader(config_path, pipeline, on_change=self._reschedule) if config_path else None
        )
        self.stopping = threading.Event()
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC",
        )
        pipeline.on_queued = self.wake_delivery
        self._force_next: set[str] = set()  # sources whose next poll ignores their backoff
        self.started = threading.Event()  # the ledger is recovered and the jobs are scheduled
        self.metrics: Metrics | None = None
        if pipeline.config.monitor.enabled:
            self.metrics = Metrics(pipeline)  # also pipeline.metrics
        self.websub: WebSub | None = None  # push (bot.websub), when `websub:` is configured
        self._listener: WebSubListener | None = None
        self._push_lock = threading.Lock()
        self._pushed: set[str] = set()  # sources a push asked to poll
        self._push_queued: set[str] = set()  # sources with a push poll waiting to start
        self._source_locks: dict[str, threading.Lock] = {}

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
            if source.enabled:
                self._add_poll_job(source, now)
        self._add_recheck_job(config, now)
        self._scheduler.add_job(
            self._deliver_job,
            IntervalTrigger(seconds=config.deliver_every, timezone="UTC"),
            id=DELIVER_JOB,
            name="deliver",
            next_run_time=now + timedelta(seconds=0.5),
        )
        if self.websub is not None:
            self._scheduler.add_job(
                self._websub_job,
                IntervalTrigger(seconds=1, timezone="UTC"),
                id="websub",
                name="websub subscriptions",
                next_run_time=now + timedelta(seconds=1),
            )
        if self.reloader is not None:
            self._scheduler.add_job(
                self._watch_job,
                IntervalTrigger(seconds=1.0, timezone="UTC"),
                id=WATCH_JOB,
                name="watch the config file",
                next_run_time=now + timedelta(seconds=1),
            )

    def _add_poll_job(self, source: SourceConfig, now: datetime) -> None:
        """Poll ``source`` now, then on its interval (replacing its job if it has one)."""
        self._scheduler.add_job(
            self._poll_job,
            IntervalTrigger(seconds=source.every, jitter=source.effective_jitter, timezone="UTC"),
            args=[source.id],
            id=f"poll:{source.id}",
            name=f"poll {source.id}",
            next_run_time=now,
            replace_existing=True,
        )

    def _add_recheck_job(self, config: Config, now: datetime) -> None:
        if config.recheck.enabled:
            self._scheduler.add_job(
                self._recheck_job,
                IntervalTrigger(seconds=min(config.recheck.every, 300.0), timezone="UTC"),
                id=RECHECK_JOB,
                name="recheck unpublished articles",
                next_run_time=now + timedelta(seconds=5),
                replace_existing=True,
            )

    def _reschedule(self, config: Config, change: ConfigChange) -> None:
        """Apply a reloaded config to the jobs: added sources poll now, removed ones stop
        (a poll in flight finishes), changed ones restart their interval with a poll now."""
        now = self._now()
        for source_id in change.sources_removed:
            self._remove_job(f"poll:{source_id}")
        for source_id in (*change.sources_added, *change.sources_changed):
            self._force_next.add(source_id)  # a fixed feed URL must not wait out the old backoff
            self._add_poll_job(config.source(source_id), now)
        if "deliver_every" in change.settings:
            self._scheduler.reschedule_job(
                DELIVER_JOB, trigger=IntervalTrigger(seconds=config.deliver_every, timezone="UTC")
            )
        if "recheck" in change.settings:
            self._remove_job(RECHECK_JOB)
            self._add_recheck_job(config, now)
        if self.websub is not None:  # subscribe added sources, unsubscribe removed ones
            self.websub.reconfigure(config)

    def _remove_job(self, job_id: str) -> None:
        if self._scheduler.get_job(job_id) is not None:
            self._scheduler.remove_job(job_id)

    def _watch_job(self) -> None:
        if self.stopping.is_set() or self.reloader is None:
            return
        try:
            self.reloader.tick()
        except Exception:  # the daemon goes on with the config it has
            log.exception("config reload failed")

    def _poll_job(self, source_id: str, *, pushed: bool = False) -> None:
        if self.stopping.is_set():
            return
        with self._source_locks.setdefault(source_id, threading.Lock()):
            if pushed:  # a push: poll unless a poll began after it (that one saw its news)
                with self._push_lock:
                    self._push_queued.discard(source_id)
                    if source_id not in self._pushed:
                        return
                    self._pushed.discard(source_id)
            try:
                try:
                    source = self.pipeline.config.source(source_id)
                except KeyError:  # removed by a config reload just now
                    return
                force = pushed or source_id in self._force_next
                self._force_next.discard(source_id)
                # Several daemons may share the ledger: whichever comes first in an interval
                # polls (a push or a reloaded source polls at once).
                report = self.pipeline.poll(
                    source, force=force, min_gap=0.0 if force else source.every * 0.8
                )
                if report.new:
                    self.wake_delivery()
            except Exception:  # a job must never die silently; the next run tries again
                log.exception("source %s: poll job failed", source_id, extra={"source": source_id})

    def poll_now(self, source_id: str) -> None:
        """Poll ``source_id`` as soon as possible (a WebSub push said it changed)."""
        if self.stopping.is_set() or not self._scheduler.running:
            return
        with self._push_lock:
            self._pushed.add(source_id)
            if source_id in self._push_queued:
                return  # a push poll is waiting to start: it will see this push too
            self._push_queued.add(source_id)
        self._scheduler.add_job(
            self._poll_job, args=[source_id], kwargs={"pushed": True}, next_run_time=self._now()
        )

    def _websub_job(self) -> None:
        if self.stopping.is_set() or self.websub is None:
            return
        try:
            self.websub.tick()
        except Exception:
            log.exception("websub job failed")

    def _start_websub(self) -> None:
        pipeline = self.pipeline
        if pipeline.config.websub is None:
            return
        from bot.websub import WebSub, WebSubListener

        self.websub = WebSub(
            pipeline.config,
            pipeline.store,
            pipeline.fetcher,
            clock=pipeline.clock,
            on_push=self.poll_now,
        )
        self.websub.start()
        self._listener = WebSubListener(self.websub, max_bytes=pipeline.config.fetch.max_bytes)
        self._listener.start()
        log.info(
            "websub: listening on %s:%d for %s",
            pipeline.config.websub.host,
            self._listener.port,
            pipeline.config.websub.callback_url,
        )

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
        self._start_websub()
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
            if self._listener is not None:
                self._listener.stop()
            self._scheduler.shutdown(wait=True)
            if self.websub is not None:
                self.websub.close()
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

        def reload(signum: int, _frame: FrameType | None) -> None:
            if self.reloader is not None:
                self.reloader.request()  # the config-watch job reloads within a second

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGHUP, reload)
