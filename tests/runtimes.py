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
suite, whose runc part takes ~32 min on the 2-core CI machine): every test of the hostile-code suites
(`test_hostile_code.py`, `test_hostile_code_compiled.py`, and the channel attacks of
`test_channels.py`): gVisor is chosen against hostile code, so every attack must fail there too.
Measured on a shared machine (load 3 to 6), runsc against runc: hostile 288 s / 177 s, compiled
444 s / 384 s, channels 101 s / 85 s; the pass adds about 14 min at that load.
Not under runsc in CI: the cross-language table (`test_across_languages.py`: 1249 s against 622 s,
its compare tests ~280 s of that; with it, the pass came to ~30 min and CI's whole run too near its
90) and the per-language files (~210 real-engine tests, about 25 min more). Both pass under
`PHRONOSD_TEST_RUNTIME=runsc` by hand, but for a Rust compare of three solutions (the container
exits with status 2) and two Java requests that reach their time limit; the table's tests state
gVisor's differences with the helpers below. `test_runtime.py` runs its own gVisor cases in every
run.

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


def protects_init(runtime: str) -> bool:
    """Whether the container's init (the supervisor) is out of the reach of signals from the code under
    test. Linux drops a signal sent inside a PID namespace to its init unless init handles it, and
    `kill(-1)` spares init; gVisor (runsc, 2022) delivers SIGKILL to it, so there a solution can end
    the container (and a compare job with it: no solution then passes; README: Isolation)."""
    return runtime != "runsc"


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
