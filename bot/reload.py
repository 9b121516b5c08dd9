"""Config hot reload: the daemon follows its YAML file without a restart.

``Reloader.tick()`` runs every second in the daemon (a scheduler job). It reloads when SIGHUP
asked for it (``request()``), or when the file's content (or its ``.env``) changed and stayed
the same for one more tick, so a file caught half-written is not reported as broken. The file
is read through its path each time, so an editor's atomic rename and a Kubernetes ConfigMap's
symlink swap are followed like an edit in place.

A reload does what a restart with the new file would do, without the restart:

1. ``load_config`` validates the new file (``${VAR}``, ``.env``, every check). If it fails,
   the daemon keeps the config it runs on and logs the error once per bad content.
2. ``diff(old, new)`` says what changed (pure: ``ConfigChange``).
3. Settings that need a restart (``RESTART_KEYS``) keep their running values; one warning
   names them.
4. ``Pipeline.replace_config`` swaps the config object (jobs read it once as they start, so one
   in flight finishes on the old one) and rebuilds the publishers of changed accounts.
5. The daemon reschedules its jobs (``on_change``): new sources poll now, removed ones stop.
6. The texts of deliveries not sent yet are composed again for accounts whose composing
   settings changed — not a post an editor edited, a repost, or one already tried once.
7. One info line says what changed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from bot.config import Config, load_config
from bot.errors import ConfigError
from bot.pipeline import Pipeline
from bot.summarizer import compose

log = logging.getLogger(__name__)

# Top-level settings a running daemon cannot change: a reload keeps their running values.
# (Names not in this version's Config are ignored.)
RESTART_KEYS = ("store", "state_dir", "web", "monitor", "websub", "publish_timeout")
# Account settings that change the composed text (or the platform facts it is fitted to).
COMPOSE_KEYS = ("platform", "template", "hashtags", "utm", "max_length", "options", "api_base")
_LISTS = ("sources", "accounts", "routes")

# Other pipelines of this process that take every config the daemon reloads (the web UI's).
_followers: list[Pipeline] = []
_followers_lock = threading.Lock()


def follow(pipeline: Pipeline) -> Callable[[], None]:
    """Make ``pipeline`` take every config a ``Reloader`` of this process applies (the web UI
    served by ``syndbot run`` has its own pipeline). Returns what undoes it."""
    with _followers_lock:
        _followers.append(pipeline)

    def unfollow() -> None:
        with _followers_lock:
            if pipeline in _followers:
                _followers.remove(pipeline)

    return unfollow


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """What differs between two configs, by id. A disabled source counts as removed (it is
    no longer polled), an enabled one as added."""

    sources_added: tuple[str, ...] = ()
    sources_removed: tuple[str, ...] = ()
    sources_changed: tuple[str, ...] = ()
    accounts_added: tuple[str, ...] = ()
    accounts_removed: tuple[str, ...] = ()
    accounts_changed: tuple[str, ...] = ()
    recompose: tuple[str, ...] = ()  # changed accounts whose composed texts may differ
    routes_changed: bool = False
    settings: tuple[str, ...] = ()  # other top-level keys that changed and apply live
    restart: tuple[str, ...] = ()  # top-level keys that changed and need a restart
    keys: tuple[tuple[str, tuple[str, ...]], ...] = ()  # "sources.ctn" -> keys that changed

    @property
    def empty(self) -> bool:
        return self == ConfigChange()

    def summary(self, recomposed: int) -> str:
        """One line for the log: what the reload applied."""
        parts: list[str] = []
        for kind, added, removed, changed in (
            ("sources", self.sources_added, self.sources_removed, self.sources_changed),
            ("accounts", self.accounts_added, self.accounts_removed, self.accounts_changed),
        ):
            keys = dict(self.keys)
            shown = [f"{i} ({', '.join(keys.get(f'{kind}.{i}', ()))})" for i in changed]
            done = [
                f"{word} {', '.join(ids)}"
                for word, ids in (("added", added), ("removed", removed), ("changed", shown))
                if ids
            ]
            if done:
                parts.append(f"{kind} {'; '.join(done)}")
        if self.routes_changed:
            parts.append("routes changed")
        if self.settings:
            parts.append(f"{', '.join(self.settings)} changed")
        if self.recompose:
            parts.append(f"{recomposed} pending post(s) recomposed")
        return " | ".join(parts) or "nothing to apply"


def diff(old: Config, new: Config) -> ConfigChange:
    """What a reload from ``old`` to ``new`` has to apply."""
    old_polled = {s.id: s for s in old.sources if s.enabled}
    new_polled = {s.id: s for s in new.sources if s.enabled}
    old_accounts = {a.id: a for a in old.accounts}
    new_accounts = {a.id: a for a in new.accounts}
    changed_accounts = tuple(
        a for a in new_accounts if a in old_accounts and old_accounts[a] != new_accounts[a]
    )
    top = _changed_keys(old, new)
    changed_sources = tuple(
        s for s in new_polled if s in old_polled and old_polled[s] != new_polled[s]
    )
    return ConfigChange(
        sources_added=tuple(s for s in new_polled if s not in old_polled),
        sources_removed=tuple(s for s in old_polled if s not in new_polled),
        sources_changed=changed_sources,
        accounts_added=tuple(a for a in new_accounts if a not in old_accounts),
        accounts_removed=tuple(a for a in old_accounts if a not in new_accounts),
        accounts_changed=changed_accounts,
        recompose=tuple(
            a
            for a in changed_accounts
            if any(getattr(old_accounts[a], k) != getattr(new_accounts[a], k) for k in COMPOSE_KEYS)
        ),
        routes_changed="routes" in top,
        settings=tuple(k for k in top if k not in _LISTS and k not in RESTART_KEYS),
        restart=tuple(k for k in top if k in RESTART_KEYS),
        keys=(
            *(
                (f"sources.{s}", _changed_keys(old_polled[s], new_polled[s]))
                for s in changed_sources
            ),
            *(
                (f"accounts.{a}", _changed_keys(old_accounts[a], new_accounts[a]))
                for a in changed_accounts
            ),
        ),
    )


def _changed_keys(old: BaseModel, new: BaseModel) -> tuple[str, ...]:
    """The names of the fields that differ (never their values: credentials are fields)."""
    return tuple(k for k in type(new).model_fields if getattr(old, k) != getattr(new, k))


def recompose_pending(pipeline: Pipeline, account_ids: Sequence[str]) -> int:
    """Compose again, with the pipeline's (new) config, the texts of the accounts' deliveries
    not sent yet. Skips what an editor edited, reposts and posts already tried once (see
    ``Store.recomposable``). Returns how many texts changed."""
    config = pipeline.config
    store = pipeline.store
    done = 0
    for account_id in account_ids:
        try:
            account = config.account(account_id)
        except KeyError:
            continue
        spec = pipeline.spec(account)
        for d in store.recomposable(account.id):
            stored = store.get_article(d.article_id)
            if stored is None or stored.article is None:
                continue
            try:
                post = compose(stored.article, account, spec)
            except Exception:  # keep the old text rather than lose the post
                log.exception("delivery %d to %s: composing it again failed", d.id, account.id)
                continue
            if (post.text, post.url) != (d.text, d.url) and store.recompose_text(
                d.id, d.text, post.text, url=post.url, now=pipeline.clock()
            ):
                done += 1
    return done


class Reloader:
    """Watches the config file of a running pipeline and applies valid changes."""

    def __init__(
        self,
        path: str | Path,
        pipeline: Pipeline,
        *,
        on_change: Callable[[Config, ConfigChange], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.pipeline = pipeline
        self.on_change = on_change
        self._requested = threading.Event()
        self._lock = threading.Lock()
        self._applied = self._digest()  # the content the running config came from
        self._seen = self._applied  # the content at the previous tick
        self._failed: bytes | None = None  # bad content already reported

    def request(self) -> None:
        """Reload at the next tick, even if the file looks unchanged (SIGHUP; signal-safe)."""
        self._requested.set()

    def tick(self) -> None:
        """One look at the file (the daemon calls this every second)."""
        with _followers_lock:
            pipelines = [self.pipeline, *_followers]
        for pipeline in pipelines:
            pipeline.close_retired(pipeline.clock())
        digest = self._digest()
        if self._requested.is_set():
            self._requested.clear()
            self.reload(digest, reason="SIGHUP")
        elif digest not in (self._applied, self._failed) and digest == self._seen:
            self.reload(digest, reason="file changed")
        self._seen = digest

    def reload(self, digest: bytes | None = None, *, reason: str = "reload") -> bool:
        """Load, check and apply the file now. False when it is invalid (logged)."""
        with self._lock:
            digest = digest if digest is not None else self._digest()
            old = self.pipeline.config
            try:
                new = load_config(self.path)
            except ConfigError as e:
                if reason == "SIGHUP" or digest != self._failed:
                    log.error(
                        "config reload (%s) failed; still running on the previous config: %s",
                        reason,
                        e,
                    )
                self._failed = digest
                return False
            self._failed = None
            self._applied = digest
            change = diff(old, new)
            if change.restart:
                log.warning(
                    "config reload: %s changed in %s; that needs a restart, the daemon keeps "
                    "running on the current value(s) and applies the rest",
                    ", ".join(change.restart),
                    self.path,
                )
                new = new.model_copy(update={k: getattr(old, k) for k in change.restart})
            if dataclasses.replace(change, restart=()).empty:
                log.info("config reloaded (%s): nothing to apply", reason)
                return True
            _redact_new_secrets(new)  # before any job can use (and log) a new credential
            with _followers_lock:
                pipelines = [self.pipeline, *_followers]
            for pipeline in pipelines:
                pipeline.replace_config(
                    new,
                    accounts=(*change.accounts_changed, *change.accounts_removed),
                    fetch="fetch" in change.settings,
                )
            if self.on_change is not None:
                self.on_change(new, change)
            recomposed = recompose_pending(self.pipeline, change.recompose)
            log.info("config reloaded (%s): %s", reason, change.summary(recomposed))
            return True

    def _digest(self) -> bytes:
        """A hash of the file's content and of the ``.env`` beside it; ``b""`` when the file
        cannot be read (``load_config`` reports that, once it stays so)."""
        h = hashlib.sha256()
        try:
            h.update(self.path.read_bytes())
        except OSError:
            return b""
        with contextlib.suppress(OSError):
            h.update(b"\0" + (self.path.parent / ".env").read_bytes())
        return h.digest()


def _redact_new_secrets(config: Config) -> None:
    """Credentials new in the reloaded config are blanked in the logs too (the log handlers'
    ``RedactingFormatter`` got the old ones at start)."""
    for handler in logging.getLogger().handlers:
        formatter = handler.formatter
        secrets = getattr(formatter, "secrets", None)
        if isinstance(secrets, list):
            merged = set(secrets) | config.secret_values()
            formatter.secrets = sorted(merged, key=len, reverse=True)  # type: ignore[union-attr]
