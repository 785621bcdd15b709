"""Where jobs live: an embedded SQLite database (setting `database`), through aiosqlite so no query
blocks the event loop. Every change is one transaction: a full disk leaves the database as it was
and is answered 503 `jobs.storage`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from .errors import Unavailable

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    client TEXT NOT NULL,
    status TEXT NOT NULL,
    request TEXT NOT NULL,
    webhook_url TEXT,
    webhook_secret TEXT,
    webhook_state TEXT,
    idempotency_key TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    progress TEXT,
    result TEXT,
    error TEXT,
    worker TEXT,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency ON jobs (owner, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_owner_created ON jobs (owner, created_at);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
"""
FINISHED = ("succeeded", "failed", "cancelled")
COLUMNS = (
    "id",
    "kind",
    "owner",
    "client",
    "status",
    "request",
    "webhook_url",
    "webhook_secret",
    "webhook_state",
    "idempotency_key",
    "created_at",
    "started_at",
    "finished_at",
    "progress",
    "result",
    "error",
    "worker",
    "attempts",
)
JSON_COLUMNS = ("request", "webhook_state", "progress", "result", "error")


@dataclass
class Job:
    id: str
    kind: str
    owner: str
    client: str
    status: str
    request: dict[str, Any]
    created_at: float
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_state: dict[str, Any] | None = None
    idempotency_key: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    progress: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    worker: str | None = None
    attempts: int = 0

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def row(self) -> tuple[Any, ...]:
        values = []
        for column in COLUMNS:
            value = getattr(self, column)
            values.append(json.dumps(value) if column in JSON_COLUMNS and value is not None else value)
        return tuple(values)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        values = {c: (json.loads(row[c]) if c in JSON_COLUMNS and row[c] is not None else row[c]) for c in COLUMNS}
        return cls(**values)


def storage_error(exc: sqlite3.Error) -> Unavailable:
    full = "full" in str(exc).lower()
    reason = "the job database is full (disk or size limit)" if full else f"the job database failed: {exc}"
    return Unavailable("jobs.storage", f"{reason}; nothing was written")


class JobStore:
    """The jobs table. Each method is one statement or one transaction."""

    def __init__(self, db: aiosqlite.Connection):
        self.db = db
        self.writing = asyncio.Lock()

    @classmethod
    async def open(cls, path: str) -> JobStore:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path)
        db.row_factory = sqlite3.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.executescript(SCHEMA)
        await db.commit()
        return cls(db)

    async def close(self) -> None:
        await self.db.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One write transaction at a time: the connection is shared, so without the lock one
        coroutine's rollback (a full disk) would undo another's uncommitted rows, already answered 202."""
        async with self.writing:
            try:
                yield
                await self.db.commit()
            except sqlite3.Error as exc:
                await self.db.rollback()
                raise storage_error(exc) from None
            except BaseException:
                await self.db.rollback()
                raise

    async def insert(self, jobs: list[Job]) -> None:
        """All or nothing."""
        placeholders = ", ".join("?" for _ in COLUMNS)
        async with self.transaction():
            await self.db.executemany(
                f"INSERT INTO jobs ({', '.join(COLUMNS)}) VALUES ({placeholders})", [job.row() for job in jobs]
            )

    async def save(self, job: Job, *columns: str) -> None:
        """Write `columns` of one job (all of them when none are named)."""
        names = columns or COLUMNS[1:]
        values = [dict(zip(COLUMNS, job.row()))[name] for name in names]
        async with self.transaction():
            await self.db.execute(
                f"UPDATE jobs SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?", (*values, job.id)
            )

    async def get(self, job_id: str) -> Job | None:
        async with self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)) as cursor:
            row = await cursor.fetchone()
        return Job.from_row(row) if row else None

    async def by_idempotency_key(self, owner: str, key: str) -> Job | None:
        async with self.db.execute(
            "SELECT * FROM jobs WHERE owner = ? AND idempotency_key = ?", (owner, key)
        ) as cursor:
            row = await cursor.fetchone()
        return Job.from_row(row) if row else None

    async def listing(self, owner: str, status: str | None, limit: int) -> list[Job]:
        query, args = "SELECT * FROM jobs WHERE owner = ?", [owner]
        if status:
            query, args = query + " AND status = ?", [*args, status]
        async with self.db.execute(query + " ORDER BY created_at DESC LIMIT ?", (*args, limit)) as cursor:
            return [Job.from_row(row) async for row in cursor]

    async def unfinished(self) -> AsyncIterator[Job]:
        """Jobs queued or running when the daemon last stopped (even by SIGKILL), oldest first."""
        async with self.db.execute(
            "SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at"
        ) as cursor:
            async for row in cursor:
                yield Job.from_row(row)

    async def undelivered_webhooks(self) -> list[Job]:
        async with self.db.execute(
            "SELECT * FROM jobs WHERE status IN ('succeeded', 'failed', 'cancelled') AND webhook_url IS NOT NULL "
            "AND (webhook_state IS NULL OR json_extract(webhook_state, '$.state') = 'pending')"
        ) as cursor:
            return [Job.from_row(row) async for row in cursor]

    async def count_queued(self) -> int:
        async with self.db.execute("SELECT count(*) FROM jobs WHERE status = 'queued'") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def delete_finished_before(self, when: float) -> int:
        async with self.transaction():
            cursor = await self.db.execute(
                "DELETE FROM jobs WHERE status IN ('succeeded', 'failed', 'cancelled') AND finished_at < ?", (when,)
            )
        return cursor.rowcount
