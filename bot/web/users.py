"""People who use the web UI, their API tokens, and the audit lines their account changes write.

Passwords are stored as werkzeug's salted scrypt hashes. API tokens are 256-bit random
strings shown once; only their SHA-256 is stored (a slow hash adds nothing for a random token
of that size, and a lookup by hash is one indexed query). Every change is written to the
``events`` table with the actor who made it (``web:<name>`` or ``cli:<login>``).
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from werkzeug.security import check_password_hash, generate_password_hash

from bot.errors import BotError
from bot.store import Store, api_tokens, events, users

MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "sbt_"  # noqa: S105 (marks syndbot tokens; not a secret)
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.@-]{0,59}$")
# Compared against when the user does not exist, so a wrong name takes as long as a wrong
# password (no user enumeration by timing).
_DUMMY_HASH = generate_password_hash("not a real password; never matches")


class UserError(BotError):
    """A user or token operation that cannot be done (unknown name, weak password, …)."""


class Role(enum.StrEnum):
    EDITOR = "editor"  # everything an editor does: desk, repost, log, own password
    ADMIN = "admin"  # also: people and API tokens


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: Role
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None
    password_hash: str = field(repr=False)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def actor(self) -> str:
        """How the audit log names this person's actions."""
        return f"web:{self.name}"

    @property
    def session_stamp(self) -> str:
        """Changes when the password changes, which ends every session made with the old one."""
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: int
    user_id: int
    user_name: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


def normalize_name(name: str) -> str:
    return name.strip().lower()


def check_name(name: str) -> str:
    n = normalize_name(name)
    if not _NAME_RE.match(n):
        raise UserError(
            f"{name!r} is not a valid user name: use letters, digits and . _ @ -, "
            "at most 60 characters, starting with a letter or digit"
        )
    return n


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip() != password:
        raise UserError("the password must not start or end with a space")
    return password


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _user(r: sa.RowMapping) -> User:
    return User(
        id=r["id"],
        name=r["name"],
        role=Role(r["role"]),
        disabled=bool(r["disabled"]),
        created_at=r["created_at"],
        last_login_at=r["last_login_at"],
        password_hash=r["password_hash"],
    )


class Users:
    """The ``users`` and ``api_tokens`` tables of a migrated store."""

    def __init__(self, store: Store, *, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))

    # -- people ---------------------------------------------------------------------------------

    def add(self, name: str, password: str, role: Role | str, *, actor: str) -> User:
        n = check_name(name)
        check_password(password)
        try:
            r = Role(role)
        except ValueError:
            raise UserError(f"unknown role {role!r}: use editor or admin") from None
        now = self.clock()
        with self.store.engine.begin() as conn:
            if self._by_name(conn, n) is not None:
                raise UserError(f"user {n!r} exists already")
            conn.execute(
                users.insert().values(
                    name=n,
                    password_hash=generate_password_hash(password),
                    role=str(r),
                    disabled=False,
                    created_at=now,
                )
            )
            self._audit(conn, actor, "user-added", f"{n} ({r})")
            user = self._by_name(conn, n)
        assert user is not None
        return user

    def get(self, name: str) -> User | None:
        with self.store.engine.begin() as conn:
            return self._by_name(conn, normalize_name(name))

    def get_by_id(self, user_id: int) -> User | None:
        with self.store.engine.begin() as conn:
            r = conn.execute(sa.select(users).where(users.c.id == user_id)).mappings().first()
        return _user(r) if r else None

    def require(self, name: str) -> User:
        user = self.get(name)
        if user is None:
            raise UserError(f"no user {normalize_name(name)!r} (see `syndbot user list`)")
        return user

    def all(self) -> list[User]:
        with self.store.engine.begin() as conn:
            rows = conn.execute(sa.select(users).order_by(users.c.name)).mappings().all()
        return [_user(r) for r in rows]

    def count(self) -> int:
        with self.store.engine.begin() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one())

    @staticmethod
    def _by_name(conn: Connection, name: str) -> User | None:
        r = conn.execute(sa.select(users).where(users.c.name == name)).mappings().first()
        return _user(r) if r else None

    def set_disabled(self, name: str, disabled: bool, *, actor: str) -> User:
        user = self.require(name)
        with self.store.engine.begin() as conn:
            conn.execute(users.update().where(users.c.id == user.id).values(disabled=disabled))
            self._audit(conn, actor, "user-disabled" if disabled else "user-enabled", user.name)
        return self.require(name)

    def set_password(self, name: str, password: str, *, actor: str) -> None:
        user = self.require(name)
        check_password(password)
        with self.store.engine.begin() as conn:
            conn.execute(
                users.update()
                .where(users.c.id == user.id)
                .values(password_hash=generate_password_hash(password))
            )
            self._audit(conn, actor, "password-changed", user.name)

    def verify(self, name: str, password: str) -> User | None:
        """The user, when ``name`` and ``password`` match an enabled account; else None."""
        user = self.get(name)
        if user is None:
            check_password_hash(_DUMMY_HASH, password)
            return None
        if not check_password_hash(user.password_hash, password) or user.disabled:
            return None
        return user

    def record_login(self, user: User, *, detail: str | None = None) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(
                users.update().where(users.c.id == user.id).values(last_login_at=self.clock())
            )
            self._audit(conn, user.actor, "login", detail)

    # -- API tokens -----------------------------------------------------------------------------

    def new_token(self, name: str, *, label: str = "", actor: str) -> tuple[int, str]:
        """A new API token for ``name``: (its id, the token). The token is not kept."""
        user = self.require(name)
        if user.disabled:
            raise UserError(f"user {user.name!r} is disabled")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.store.engine.begin() as conn:
            result = conn.execute(
                api_tokens.insert().values(
                    user_id=user.id,
                    token_hash=token_hash(token),
                    label=label.strip()[:128],
                    created_at=self.clock(),
                    revoked=False,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            token_id = int(key[0])
            self._audit(conn, actor, "token-created", f"#{token_id} for {user.name} {label}")
        return token_id, token

    def tokens(self, *, user_id: int | None = None) -> list[ApiToken]:
        q = (
            sa.select(api_tokens, users.c.name)
            .join(users, users.c.id == api_tokens.c.user_id)
            .order_by(api_tokens.c.id.desc())
        )
        if user_id is not None:
            q = q.where(api_tokens.c.user_id == user_id)
        with self.store.engine.begin() as conn:
            rows = conn.execute(q).mappings().all()
        return [
            ApiToken(
                id=r["id"],
                user_id=r["user_id"],
                user_name=r["name"],
                label=r["label"],
                created_at=r["created_at"],
                last_used_at=r["last_used_at"],
                revoked=bool(r["revoked"]),
            )
            for r in rows
        ]

    def revoke_token(self, token_id: int, *, actor: str, user_id: int | None = None) -> bool:
        """Revoke one token (only ``user_id``'s when given). False when there is none to revoke."""
        q = api_tokens.update().where(api_tokens.c.id == token_id, ~api_tokens.c.revoked)
        if user_id is not None:
            q = q.where(api_tokens.c.user_id == user_id)
        with self.store.engine.begin() as conn:
            done = conn.execute(q.values(revoked=True)).rowcount
            if done:
                self._audit(conn, actor, "token-revoked", f"#{token_id}")
        return bool(done)

    def user_for_token(self, token: str) -> User | None:
        """The enabled user a live token belongs to (and note its use); else None."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        with self.store.engine.begin() as conn:
            r = (
                conn.execute(
                    sa.select(api_tokens.c.id, api_tokens.c.user_id).where(
                        api_tokens.c.token_hash == token_hash(token), ~api_tokens.c.revoked
                    )
                )
                .mappings()
                .first()
            )
            if r is None:
                return None
            conn.execute(
                api_tokens.update()
                .where(api_tokens.c.id == r["id"])
                .values(last_used_at=self.clock())
            )
            u = conn.execute(sa.select(users).where(users.c.id == r["user_id"])).mappings().first()
        if u is None or u["disabled"]:
            return None
        return _user(u)

    # -- audit ----------------------------------------------------------------------------------

    def audit(self, actor: str, action: str, detail: str | None = None) -> None:
        """One line in the audit log for an action that is not a delivery's."""
        with self.store.engine.begin() as conn:
            self._audit(conn, actor, action, detail)

    def _audit(self, conn: Connection, actor: str, action: str, detail: str | None) -> None:
        conn.execute(
            events.insert().values(
                at=self.clock(), actor=actor[:64], action=action[:32], detail=detail
            )
        )
