"""The job database without the daemon around it (no Docker engine needed)."""

from __future__ import annotations

import asyncio

from phronosd.errors import Unavailable
from phronosd.job_store import Job, JobStore


async def test_a_failed_write_never_undoes_another_writers_rows(tmp_path):
    """The job database is one shared connection: a write that fails (a full disk) and rolls back
    must not take with it the rows of a submission that is answered 202 meanwhile."""
    store = await JobStore.open(str(tmp_path / "jobs.sqlite3"))
    try:
        running, submitted = (
            Job(id=name * 32, kind="validate", owner="", client="c", status="queued", request={}, created_at=1.0)
            for name in "ab"
        )
        await store.insert([running])
        await store.db.execute("CREATE TRIGGER refused BEFORE UPDATE ON jobs BEGIN SELECT RAISE(ABORT, 'full'); END")
        # queued in this order, an unserialised store runs: update (fails), insert, rollback, commit
        failing = asyncio.ensure_future(store.save(running, "status"))
        inserting = asyncio.ensure_future(store.insert([submitted]))
        failed, inserted = await asyncio.gather(failing, inserting, return_exceptions=True)
        assert isinstance(failed, Unavailable) and inserted is None, (failed, inserted)
        assert await store.get(submitted.id) is not None, "an accepted job was rolled back by another write"
    finally:
        await store.close()
