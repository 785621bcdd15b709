"""The container runtime setting (`runtime`, `runtime_languages`): which runtime each language's
containers get, the start-up refusal of a runtime the engine has not registered, `phronosd check`'s
advice, proof that a request under runsc runs on gVisor's kernel, not the host's, and the warm pool
under a runtime that cannot re-limit a running container (runsc)."""

from __future__ import annotations

import dataclasses
import os
import subprocess

import pytest
from conftest import leftover_containers, make_settings, serve_app
from daemon import PHRONOSD, free_port
from helpers import example, pool_ready, run, validate
from runtimes import listed_runtimes

from phronosd.keys import EXECUTOR
from phronosd.measurement import contamination_flags, phase_resources
from phronosd.sandbox import Limits, cgroup_pids
from phronosd.settings import SettingsError

# Under gVisor the code sees gVisor's kernel (the Sentry), which calls itself Linux 4.4.0.
GVISOR_RELEASE = "4.4.0"
KERNEL_SOLUTION = "import platform\n\n\ndef release():\n    return platform.release()\n"
KERNEL_TESTS = (
    "from solution import release\n\n\n"
    "def test_kernel_is_gvisors():\n"
    f"    with open('/proc/version') as version:\n"
    f"        assert release() == {GVISOR_RELEASE!r}, version.read()\n"
)


def serve_command(fake_docker, *flags: str) -> subprocess.CompletedProcess:
    """`phronosd serve` on the fake engine, expected to stop at start-up."""
    return subprocess.run(
        [str(PHRONOSD), "--port", str(free_port()), "--docker-binary", fake_docker.binary, *flags],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **fake_docker.env},
    )


def check_command(fake_docker, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(PHRONOSD), "--docker-binary", fake_docker.binary, *flags, "check"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **fake_docker.env},
    )


# Settings -----------------------------------------------------------------------------------------


def test_runc_is_the_default_for_every_language():
    settings = make_settings(runtime="runc")
    assert settings.runtime_for("python") == settings.runtime_for("java") == "runc"


def test_runtime_languages_choose_who_runs_under_the_runtime():
    settings = make_settings(runtime="runsc", runtime_languages="Python, go")
    assert settings.runtime_for("python") == settings.runtime_for("go") == "runsc"
    assert settings.runtime_for("java") == "runc"
    assert settings.runtimes(["python", "java"]) == {"runsc", "runc"}
    assert make_settings(runtime="runsc").runtime_for("java") == "runsc"


@pytest.mark.parametrize("name", ["", "run sc", "--privileged", "runsc;id"])
def test_a_runtime_that_is_no_name_is_refused(name):
    with pytest.raises(SettingsError, match=r"setting runtime: .* is not a runtime name"):
        make_settings(runtime=name)


def test_without_cgroup_figures_a_measurement_keeps_its_wall_time():
    """Under gVisor the supervisor cannot read the cgroup: the phase stamps carry times only. The wall
    time still tells a spent budget from an early stop; no contamination flag is guessed."""
    resources = phase_resources({"measure": {"atMs": 10.0}, "end": {"atMs": 510.0}})
    assert resources == {"wallMs": 500.0}
    assert contamination_flags(resources) == []


def test_the_test_runtime_switch_lists_runtimes_in_order():
    """`PHRONOSD_TEST_RUNTIME` (tests/runtimes.py): the first runs every app, marked tests run under each."""
    assert listed_runtimes(None) == listed_runtimes(" ") == ("runc",)
    assert listed_runtimes("runc, runsc,runc") == ("runc", "runsc")
    assert listed_runtimes("runsc") == ("runsc",)


# Start-up and `phronosd check` on the fake engine (it has runc and runsc) ---------------------------


def test_an_unregistered_runtime_stops_start_up_with_one_line(fake_docker):
    result = serve_command(fake_docker, "--runtime", "kata")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "setting runtime: the Docker engine has no runtime 'kata' (it has runc, runsc)" in lines[0]
    assert "phronosd check" in lines[0]
    assert not fake_docker.calls("run"), "no container may start"


def test_an_unknown_language_in_runtime_languages_stops_start_up(fake_docker):
    result = serve_command(fake_docker, "--runtime", "runsc", "--runtime-languages", "python,cobol")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "phronosd: setting runtime_languages: unknown language 'cobol' "
        "(known: cpp, go, java, javascript, python, rust, typescript)"
    ]


def test_check_says_how_to_register_runsc(fake_docker):
    result = check_command(fake_docker, "--runtime", "runsc")
    assert "ok    runtime runsc: registered (/usr/bin/runsc)" in result.stdout, result.stdout
    result = check_command(fake_docker, "--runtime", "kata")
    assert result.returncode == 1
    assert "fail  runtime kata: not registered with the engine (it has runc, runsc)" in result.stdout
    assert "fix: add 'kata' under \"runtimes\" in /etc/docker/daemon.json" in result.stdout
    assert "kill -HUP $(pidof dockerd)" in result.stdout


async def test_each_language_gets_its_runtime_flag_and_the_response_names_it(
    aiohttp_server, aiohttp_client, fake_docker
):
    settings = make_settings(docker_binary=fake_docker.binary, runtime="runsc", runtime_languages="python")
    client = await serve_app(aiohttp_server, aiohttp_client, settings)
    solution, tests = example("python")
    result = await validate(client, "python", solution, tests)
    assert result["passed"] and result["containerRuntime"] == "runsc"
    measured = await run(client, "python", solution, tests, runs=5)
    assert measured["measurement"]["runs"] == 5 and measured["containerRuntime"] == "runsc"
    runs = fake_docker.calls("run")
    assert [call["args"][call["args"].index("--runtime") + 1] for call in runs] == ["runsc", "runsc"]
    pids = {call["args"][call["args"].index("--pids-limit") + 1] for call in runs}
    assert pids == {str(4 * settings.pids_limit)}, (
        "gVisor's own tasks count in its pids cgroup (sandbox.SANDBOX_TASKS_FACTOR)"
    )
    await client.close()


def test_only_a_runtime_whose_own_tasks_count_gets_a_larger_pids_cgroup():
    limits = Limits(
        timeout_ms=1000, compile_timeout_ms=1000, memory_mb=256, cpuset="0", cpu_quota=1, pids=100, output_limit=1
    )
    assert cgroup_pids(limits) == 100
    assert cgroup_pids(dataclasses.replace(limits, runtime="runsc")) == 400


# The real engine ----------------------------------------------------------------------------------


def registered(name: str) -> bool:
    out = subprocess.run(
        ["docker", "info", "--format", "{{json .Runtimes}}"], capture_output=True, text=True, timeout=30
    ).stdout
    return f'"{name}"' in out


@pytest.fixture
def runsc(docker_ready, require_image):
    """Fail (never skip) without runsc: `./install.sh --with-runsc` installs and registers it."""
    require_image("python")
    if not registered("runsc"):
        pytest.fail("the engine has no runtime runsc: run ./install.sh --no-start --with-runsc", pytrace=False)


def test_the_real_engine_refuses_an_unregistered_runtime_at_start_up(docker_ready):
    result = subprocess.run(
        [str(PHRONOSD), "--port", str(free_port()), "--runtime", "phronosd-no-such-runtime"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "has no runtime 'phronosd-no-such-runtime'" in lines[0], result.stderr


@pytest.mark.parametrize("runtime", ["runsc", "runc"])
async def test_a_request_under_runsc_runs_on_gvisors_kernel(aiohttp_server, aiohttp_client, runsc, runtime):
    """The same suite passes under runsc and fails under runc: the code saw gVisor's kernel, which the
    host's is not."""
    assert os.uname().release != GVISOR_RELEASE
    client = await serve_app(aiohttp_server, aiohttp_client, make_settings(runtime=runtime))
    result = await validate(client, "python", KERNEL_SOLUTION, KERNEL_TESTS)
    await client.close()
    assert result["containerRuntime"] == runtime
    if runtime == "runsc":
        assert result["status"] == "passed", result
    else:
        assert result["status"] == "failed" and os.uname().release in result["tests"][0]["message"], result


async def test_under_runsc_a_request_of_another_memory_limit_runs_cold_and_spares_the_pool(
    aiohttp_server, aiohttp_client, runsc
):
    """runsc has no `update` command, so a pooled container cannot be re-limited: the first request
    whose memoryMb differs from the pool's learns it (`docker update` fails, it runs cold); later ones
    run cold without touching the pooled container, which still serves the pool's own limit."""
    settings = make_settings(runtime="runsc", warm_pool=1, warm_pool_languages="python", memory_mb=256)
    client = await serve_app(aiohttp_server, aiohttp_client, settings)
    solution, tests = example("python")
    await pool_ready(client, "python")
    first = await validate(client, "python", solution, tests, memoryMb=320)
    assert first["passed"] and first["timings"]["pooled"] is False, first
    await pool_ready(client, "python")
    executor = client.app[EXECUTOR]
    await executor.drain_held()  # the cold container is gone (it answered before it was)
    [pooled] = leftover_containers()
    second = await validate(client, "python", solution, tests, memoryMb=320)
    assert second["passed"] and second["timings"]["pooled"] is False, second
    await executor.drain_held()
    assert leftover_containers() == [pooled], "the pooled container was touched"
    own_limit = await validate(client, "python", solution, tests)
    assert own_limit["passed"] and own_limit["timings"]["pooled"] is True, own_limit
    await client.close()
