"""The warm pool on real containers (Python's image): a pooled job sees nothing of an earlier one,
the request's limits hold, a container that dies while idle is replaced and never handed out, and
nothing is left after shutdown (the `client` fixture checks that)."""

from __future__ import annotations

import pytest
from conftest import INSTANCE, docker, leftover_containers
from helpers import pool_ready, validate

from phronosd.sandbox import INSTANCE_LABEL

pytestmark = pytest.mark.docker

SOLUTION = "def add(a, b):\n    return a + b\n"
LEAVE_TRACES = (
    "import os, subprocess\n\n"
    "def test_leave_traces():\n"
    "    open('/work/left.txt', 'w').write('x')\n"
    "    open('/tmp/left.txt', 'w').write('x')\n"
    "    subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
)
SEE_NO_TRACES = (
    "import os\n\n"
    "def test_no_traces():\n"
    "    assert not os.path.exists('/work/left.txt')\n"
    "    assert not os.path.exists('/tmp/left.txt')\n"
    "    commands = [open(f'/proc/{p}/cmdline').read() for p in os.listdir('/proc') if p.isdigit()]\n"
    "    assert not [c for c in commands if c.startswith('sleep')], commands\n"
)


@pytest.fixture
def settings_overrides():
    return {"warm_pool": 1, "warm_pool_languages": "python"}


def pooled_names() -> list[str]:
    """Running containers of this test session's daemons (the idle pool, between requests)."""
    label = f"label={INSTANCE_LABEL}={INSTANCE}"
    return docker("ps", "--filter", label, "--filter", "status=running", "--format", "{{.Names}}").stdout.split()


async def test_a_pooled_job_sees_nothing_of_the_one_before(client, require_image):
    require_image("python")
    await pool_ready(client, "python")
    first = await validate(client, "python", SOLUTION, LEAVE_TRACES)
    assert first["status"] == "passed" and first["timings"]["pooled"], first
    await pool_ready(client, "python")
    second = await validate(client, "python", SOLUTION, SEE_NO_TRACES)
    assert second["status"] == "passed", second["tests"]
    assert second["timings"]["pooled"]


async def test_request_limits_hold_in_pooled_containers(client, require_image):
    require_image("python")
    await pool_ready(client, "python")
    bomb = "def test_bomb():\n    keep = []\n    while True:\n        keep.append(bytearray(1 << 20))\n"
    result = await validate(client, "python", SOLUTION, bomb, memoryMb=128)
    assert result["timings"]["pooled"] and result["status"] == "memory_limit", result
    assert result["timings"]["memoryPeakBytes"] <= 128 << 20
    await pool_ready(client, "python")
    forever = "def test_forever():\n    while True:\n        pass\n"
    result = await validate(client, "python", SOLUTION, forever, timeoutMs=1000)
    assert result["timings"]["pooled"] and result["status"] == "timeout", result


async def test_a_container_killed_while_idle_is_replaced_never_handed_out(client, require_image):
    require_image("python")
    await pool_ready(client, "python")
    before = set(pooled_names())
    assert before, "the pool's container is not running"
    docker("kill", *before)
    result = await validate(
        client, "python", SOLUTION, "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    )
    assert result["status"] == "passed", result
    await pool_ready(client, "python")
    assert not before & set(pooled_names()), "a killed container was kept"
    assert not [name for name in before if name in leftover_containers()]
