"""Measuring lanes: core planning, slot allocation and return, contamination flags, and two real
measurements at once on different cores."""

from __future__ import annotations

import asyncio

import pytest
from helpers import example, run

from phronosd.keys import EXECUTOR
from phronosd.lanes import Lanes, plan_cpus
from phronosd.measurement import contamination_flags, phase_resources


def test_default_plan_reserves_a_quarter_from_the_top():
    two = plan_cpus((), [0, 1])
    assert (two.measuring, two.general) == ((1,), (0,))
    sixteen = plan_cpus((), list(range(16)))
    assert sixteen.measuring == (12, 13, 14, 15) and sixteen.general == tuple(range(12))
    one = plan_cpus((), [0])
    assert one.measuring == () and one.general == (0,)


def test_configured_plan_and_bad_cores():
    plan = plan_cpus((0, 1), [0, 1])
    assert plan.measuring == (0, 1) and plan.general == (0, 1)  # nothing left: general shares
    assert plan.general_cpuset == "0,1"
    with pytest.raises(ValueError, match="not available"):
        plan_cpus((7,), [0, 1])


async def test_no_two_holders_share_a_core():
    lanes = Lanes((2, 3))
    held: list[int] = []
    peak = 0

    async def measure():
        nonlocal peak
        async with lanes.core() as core:
            assert core not in held
            held.append(core)
            peak = max(peak, len(held))
            await asyncio.sleep(0.01)
            held.remove(core)

    await asyncio.gather(*(measure() for _ in range(10)))
    assert peak == 2 and lanes.busy == 0 and lanes.waiting == 0


@pytest.mark.parametrize("failure", [TimeoutError, RuntimeError])
async def test_core_is_returned_after_a_failure(failure):
    lanes = Lanes((1,))
    with pytest.raises(failure):
        async with lanes.core():
            raise failure()
    assert lanes.busy == 0 and not lanes.full()


async def test_core_is_returned_after_cancellation():
    lanes = Lanes((1,))
    entered = asyncio.Event()

    async def hold():
        async with lanes.core():
            entered.set()
            await asyncio.sleep(60)

    task = asyncio.ensure_future(hold())
    await entered.wait()
    waiter = asyncio.ensure_future(hold())
    await asyncio.sleep(0)
    assert lanes.waiting == 1
    waiter.cancel()
    task.cancel()
    await asyncio.gather(task, waiter, return_exceptions=True)
    assert lanes.busy == 0 and lanes.waiting == 0


def phases(wall_ms, cpu_ms, throttled=0):
    return {
        "measure": {"atMs": 100.0, "cpuUsageNs": 1_000_000, "nrThrottled": 4, "throttledNs": 0},
        "end": {
            "atMs": 100.0 + wall_ms,
            "cpuUsageNs": 1_000_000 + int(cpu_ms * 1e6),
            "nrThrottled": 4 + throttled,
            "throttledNs": throttled * 5_000_000,
        },
    }


def test_contamination_flags_from_recorded_cgroup_figures():
    assert contamination_flags(phase_resources(phases(1000, 990))) == []
    assert contamination_flags(phase_resources(phases(1000, 990, throttled=3))) == ["throttled"]
    assert contamination_flags(phase_resources(phases(1000, 300))) == ["preempted"]
    assert contamination_flags(phase_resources({"measure": {"atMs": 1.0}})) == []


@pytest.mark.parametrize("settings_overrides", [{"measure_cpus": "0,1"}])
async def test_two_measurements_at_once_use_different_cores(client, require_image):
    require_image("python")
    solution, tests = example("python")
    slow = tests + "\n\ndef test_takes_a_while():\n    import time\n    time.sleep(0.01)\n"
    results = await asyncio.gather(*(run(client, "python", solution, slow, runs=30, warmup=1) for _ in range(2)))
    cores = sorted(r["measurement"]["core"] for r in results)
    assert cores == [0, 1]
    for result in results:
        assert "no_measuring_lane" not in result["measurement"]["flags"]
        assert result["measurement"]["resources"]["throttledPeriods"] == 0


async def test_run_measures_on_a_lane_core_and_gives_it_back(client, require_image):
    require_image("python")
    solution, tests = example("python")
    result = await run(client, "python", solution, tests, runs=5)
    executor = client.app[EXECUTOR]
    lane = executor.lanes
    assert result["measurement"]["core"] in lane.cores
    await executor.drain_held()  # the core is held until the container is gone, after the answer
    assert lane.busy == 0


def test_lane_switched_off_plans_no_measuring_core():
    plan = plan_cpus((1,), [0, 1], lane=False)
    assert plan.measuring == () and plan.general == (0, 1)


@pytest.mark.parametrize("settings_overrides", [{"measure_lane": "false"}])
async def test_run_without_the_lane_is_flagged(client, require_image):
    require_image("python")
    solution, tests = example("python")
    result = await run(client, "python", solution, tests, runs=5)
    assert result["measurement"]["core"] is None
    assert "no_measuring_lane" in result["measurement"]["flags"]
