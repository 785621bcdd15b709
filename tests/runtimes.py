"""The container runtimes the tests' apps run under: runc, gVisor's runsc, or both (the fixture and
hooks here are imported by `conftest.py`).

`PHRONOSD_TEST_RUNTIME` lists runtimes, comma-separated (default `runc`):
- the first runs every test's app (`make_settings`, `client`, `cold_client`);
- a test marked `each_runtime` (a module marks itself with `pytestmark`) runs once under each runtime
  listed, its id ending in the runtime's name (`test_x[runsc]`).
`.ci/run` sets `runc,runsc`: the whole suite under runc, and the marked tests a second time under
gVisor. A runtime the engine has not registered fails its tests (never skips): `./install.sh
--with-runsc` registers runsc.

What CI runs under runsc, and why (the budget: 90 min for installing, building the images and the
suite; CI's last run took 44 min with the hostile suites alone under runsc): every test of the
hostile-code suites (`test_hostile_code.py`, `test_hostile_code_compiled.py`, the channel attacks of
`test_channels.py`), since gVisor is chosen against hostile code and every attack must fail there too,
and of the per-language files (`test_<language>.py`), since every language's own counts, verdicts,
measurement, pool and compare must hold there. Measured here (2 cores, load 2 to 4) under runsc: the
per-language files about 1400 s (hostile 288 s, compiled 444 s, channels 101 s at load 3 to 6).
Not under runsc in CI: the cross-language table (`test_across_languages.py`: 1249 s against 622 s
under runc: timeouts, memory, network, exit 0, the pool and compare for every language at once):
CI's budget does not hold both passes, and it runs under `PHRONOSD_TEST_RUNTIME=runsc` by hand. `test_runtime.py` runs its own gVisor cases in every run.

Two attacks of the suites list a folder while they change it (Rust's binary replacement, Java's
forgery on every descriptor): they list it first and then act, because gVisor's listing goes on to
entries made while it is read, and the attack would otherwise loop on its own new entries.

Where gVisor differs from runc by nature, the test asks for `container_runtime` and states the
difference with `relimits_pooled_containers` and friends below; a security assertion is never
dropped, only stated for what gVisor does instead.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess

import pytest

RUNTIMES_VARIABLE = "PHRONOSD_TEST_RUNTIME"
MARKER = "each_runtime"


def listed_runtimes(value: str | None) -> tuple[str, ...]:
    """The runtimes of `PHRONOSD_TEST_RUNTIME`, in order, without repeats (runc when unset)."""
    names = [name.strip() for name in (value or "").split(",") if name.strip()]
    return tuple(dict.fromkeys(names)) or ("runc",)


RUNTIMES = listed_runtimes(os.environ.get(RUNTIMES_VARIABLE))
DEFAULT_RUNTIME = RUNTIMES[0]


def relimits_pooled_containers(runtime: str) -> bool:
    """Whether a pooled container can be re-limited to a request's memory (`docker update`): runsc
    has no `update` command, so under it such a request gets a cold container (README: Isolation)."""
    return runtime != "runsc"


def reads_its_cgroup(runtime: str) -> bool:
    """Whether the supervisor reads the container's cgroup (`memoryPeakBytes`, CPU figures): gVisor
    does not show it to the container (README: Isolation)."""
    return runtime != "runsc"


def reopens_harness_pipes(runtime: str) -> bool:
    """Whether the code under test can reopen the harness's pipes through /proc/<harness>/fd. gVisor
    (runsc, 2022) keeps that folder of a non-dumpable process open to its user, where Linux closes it:
    the code reaches the harness's /dev/null and pipes (its output, and Go's test2json stream, which
    carry no verdict: a dumpable JVM's are as open under runc) and the supervisor's (/proc/1/fd/1, the
    container's stdout: its lines are sealed), while the harness's report socket (ENXIO), its memory
    (EACCES) and ptrace stay refused, and the tests assert so."""
    return runtime == "runsc"


def times_short_runs(runtime: str) -> bool:
    """Whether runs of a tenth of a millisecond are timed close to their length while other work runs on
    the machine (the test session's own daemons and pools, or another session's containers on the
    measuring core). Under gVisor's ptrace platform (runsc, 2022) many of them then come out several
    times longer: Java's 0.1 ms spin had a median of 0.2 to 0.46 ms in 5 of 25 runs, against at most
    0.12 ms in 14 runs under runc beside the same load, and JavaScript's 0.39 ms once in a run of the
    per-language suites (README: Isolation, measure with runc)."""
    return runtime != "runsc"


def tier_ms(measurement: dict, runtime: str) -> float:
    """The figure that tells which tier a measurement's short runs ran in: their median, or the fastest
    run under a runtime that stretches many of them (`times_short_runs`)."""
    return measurement["medianMs" if times_short_runs(runtime) else "minMs"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: run once under each container runtime listed in {RUNTIMES_VARIABLE} (tests/runtimes.py)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A marked test that starts an app runs once per listed runtime (when more than one is listed)."""
    if (
        len(RUNTIMES) > 1
        and "container_runtime" in metafunc.fixturenames
        and metafunc.definition.get_closest_marker(MARKER)
    ):
        metafunc.parametrize("container_runtime", RUNTIMES, indirect=True, ids=RUNTIMES)


@functools.cache
def engine_runtimes() -> frozenset[str]:
    """The runtimes the Docker engine has registered (runc and those of daemon.json)."""
    out = subprocess.run(
        ["docker", "info", "--format", "{{json .Runtimes}}"], capture_output=True, text=True, timeout=60
    ).stdout
    try:
        return frozenset(json.loads(out))
    except ValueError:
        return frozenset()


@pytest.fixture(name="container_runtime")
def runtime_fixture(request: pytest.FixtureRequest) -> str:
    """The runtime this test's apps run under; fails the test when the engine has not registered it."""
    runtime = getattr(request, "param", DEFAULT_RUNTIME)
    if runtime != "runc" and runtime not in engine_runtimes():
        pytest.fail(
            f"the Docker engine has no runtime {runtime!r} ({RUNTIMES_VARIABLE}): "
            "run ./install.sh --no-start --with-runsc, which registers runsc",
            pytrace=False,
        )
    return runtime
