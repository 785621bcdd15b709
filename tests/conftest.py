"""Fixtures: the real app against the real Docker engine and runner images, or against a fake docker
CLI (`fake_docker.py`) for the tests whose subject is the API edge.

A test that needs Docker fails (never skips) when Docker or an image is missing: run the README's
test command, which installs and starts what the tests need. Every test that asks for the engine
(the `docker_ready` fixture, through `client` or `require_image`) is marked `docker`, so
`pytest -m "not docker"` runs the rest without an engine. Every test's containers carry a label
unique to this test session; after each test none may be left, and the session sweeps them at the end.

Tests marked `host_disturbing` change the host beyond this session's own containers (stopping dockerd,
removing images); they run only with `PHRONOSD_TEST_DISTURB_HOST=1`, which CI (`.ci/run`) sets.

`PHRONOSD_TEST_RUNTIME` chooses the container runtime of the tests' apps: `runsc` runs them all under
gVisor, `runc,runsc` (what `.ci/run` sets) runs them under runc and the tests marked `each_runtime` a
second time under runsc (`tests/runtimes.py`, a plugin, says which and why).
"""

from __future__ import annotations

import ast
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runtimes import DEFAULT_RUNTIME, pytest_configure, pytest_generate_tests, runtime_fixture  # noqa: F401 (plugin)

from phronosd.app import create_app
from phronosd.docker import DockerCli
from phronosd.images import LANGUAGE_LABEL, Images
from phronosd.keys import EXECUTOR
from phronosd.languages import Registry
from phronosd.sandbox import INSTANCE_LABEL
from phronosd.server import runner_options
from phronosd.settings import load

INSTANCE = f"test-{os.getpid()}"
DISTURB_HOST = "PHRONOSD_TEST_DISTURB_HOST"
FAKE_DOCKER_BINARY = Path(__file__).resolve().parent / "fake_docker.py"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs the engine `docker`; skip host-disturbing tests unless switched on."""
    disturb = os.environ.get(DISTURB_HOST) == "1"
    for item in items:
        if "docker_ready" in item.fixturenames:
            item.add_marker(pytest.mark.docker)
        if item.get_closest_marker("host_disturbing") and not disturb:
            item.add_marker(
                pytest.mark.skip(
                    reason=f"disturbs the host (stops dockerd or removes images): opt in with {DISTURB_HOST}=1 (CI does)"
                )
            )


def docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)


def leftover_containers(instance: str = INSTANCE) -> list[str]:
    """Containers (running or not) labelled with a daemon instance, by default this test session's."""
    return docker("ps", "-aq", "--filter", f"label={INSTANCE_LABEL}={instance}").stdout.split()


async def containers_left(client, instance: str = INSTANCE) -> list[str]:
    """The instance's containers once the app's executions have freed their slots: a container's exit
    and removal come after its answer, and its slot is held until it is gone."""
    await client.app[EXECUTOR].drain_held()
    return leftover_containers(instance)


def make_settings(**overrides: Any):
    # No warm pool unless a test asks for one (every test app would otherwise start a container per
    # language), and a job database of its own in memory.
    values = {
        "instance_name": INSTANCE,
        "docker_probe_ttl_s": "0",
        "warm_pool": "0",
        "database": ":memory:",
        "runtime": DEFAULT_RUNTIME,
        **{k: str(v) for k, v in overrides.items()},
    }
    return load(values, env={}, cwd=Path("/nonexistent"))


@pytest.fixture(scope="session")
def docker_ready() -> None:
    """Fail the test (not skip) when no Docker engine answers."""
    try:
        info = docker("info", "--format", "{{.ServerVersion}}")
    except FileNotFoundError:
        pytest.fail("the docker CLI is not installed; run the README's install command", pytrace=False)
    if info.returncode != 0:
        pytest.fail(
            f"Docker is not reachable ({info.stderr.strip()[:200]}); run ./install.sh --no-start, which starts dockerd",
            pytrace=False,
        )
    yield
    ids = leftover_containers()
    if ids:
        docker("rm", "-f", *ids)


HOST_SECRET = "hunter2-do-not-leak"


@pytest.fixture
def host_secret(monkeypatch):
    """A secret in the daemon's environment, set before the app (and its docker CLI, which copies the
    environment) starts: request it before `client`."""
    monkeypatch.setenv("HOST_SECRET_TOKEN", HOST_SECRET)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module (or with @pytest.mark.parametrize) to change the app's settings."""
    return {}


async def serve_app(aiohttp_server, aiohttp_client, settings):
    """A client of the real app, served with the daemon's own runner options (the test server
    always cancels the handler of a client that disconnects, as `phronosd serve` does)."""
    server = await aiohttp_server(create_app(settings), **runner_options(settings))
    return await aiohttp_client(server)


@pytest.fixture
async def client(aiohttp_server, aiohttp_client, docker_ready, container_runtime, settings_overrides):
    """A client of the real app on the real engine."""
    settings = make_settings(**{"runtime": container_runtime, **settings_overrides})
    test_client = await serve_app(aiohttp_server, aiohttp_client, settings)
    yield test_client
    await test_client.close()
    left = leftover_containers()
    assert not left, f"containers left behind: {left}"


@pytest.fixture
async def cold_client(aiohttp_server, aiohttp_client, docker_ready, container_runtime):
    """A second app on the same engine with `warm_pool = 0` (a daemon instance of its own), beside a
    `client` with a warm pool."""
    instance = f"{INSTANCE}-cold"
    settings = make_settings(instance_name=instance, runtime=container_runtime)
    cold = await serve_app(aiohttp_server, aiohttp_client, settings)
    yield cold
    await cold.close()
    assert leftover_containers(instance) == []


@pytest.fixture
def require_image(docker_ready):
    """Fail clearly when a language's runner image is not built (the README's test command builds them)."""

    def check(language: str) -> None:
        built = docker("images", "--filter", f"label={LANGUAGE_LABEL}={language}", "-q").stdout.split()
        if not built:
            pytest.fail(f"no {language} runner image: run `phronosd images build {language}`", pytrace=False)

    return check


@pytest.fixture
def shared_dir():
    """A temp folder other users can traverse (nginx workers run as nobody; pytest's are 0700),
    removed after the test."""
    path = Path(tempfile.mkdtemp(prefix="phronosd-test-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def current_runner_images() -> dict[str, dict[str, str]]:
    """This version's runner images under the default prefix (what a fresh install builds): tag -> labels.
    Computed for each fake engine, not once: the handlers may change while the session runs."""
    languages = list(Registry.discover().languages.values())
    tags = Images(DockerCli(), make_settings().image_prefix, languages).tags
    return {tag: {LANGUAGE_LABEL: language} for language, tag in tags.items()}


class FakeDocker:
    """The state folder of `fake_docker.py`: the images its engine has, and the calls it got."""

    def __init__(self, folder: Path, images: dict[str, dict[str, str]]):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "images.json").write_text(json.dumps(images))
        self.folder = folder
        self.binary = str(self.write_launcher(folder / "docker"))
        self.env = {"FAKE_DOCKER_DIR": str(folder)}

    @staticmethod
    def write_launcher(path: Path) -> Path:
        """The `docker_binary` to use: the fake run by this interpreter, isolated (-I -S), which starts
        in tens of ms where a version manager's `python3` shim may take hundreds. It imports the fake as
        a module, so that its compiled bytecode is cached (a script is compiled again at every call)."""
        main = (
            f"import sys; sys.path.insert(0, {str(FAKE_DOCKER_BINARY.parent)!r}); "
            f"from {FAKE_DOCKER_BINARY.stem} import main; sys.exit(main(sys.argv[1:]))"
        )
        path.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -I -S -c {shlex.quote(main)} "$@"\n')
        path.chmod(0o755)
        return path

    def calls(self, command: str | None = None) -> list[dict[str, Any]]:
        """Every call so far (`{"args": [...]}`, with `"job"` for `run`), or those of one command."""
        log = self.folder / "calls.log"
        lines = log.read_text().splitlines() if log.exists() else []
        calls = [ast.literal_eval(line) for line in lines]
        return [c for c in calls if command is None or c["args"][:1] == [command]]

    def jobs(self) -> list[dict[str, Any]]:
        """The jobs the daemon sent to containers, in order."""
        return [call["job"] for call in self.calls("run") if "job" in call]


@pytest.fixture
def fake_docker(tmp_path, monkeypatch) -> FakeDocker:
    """A fake engine with this version's runner images; its state folder is in this process's
    environment, so every docker CLI the app starts finds it."""
    fake = FakeDocker(tmp_path / "fake-docker", current_runner_images())
    for name, value in fake.env.items():
        monkeypatch.setenv(name, value)
    return fake


@pytest.fixture
async def fake_client(aiohttp_server, aiohttp_client, fake_docker, settings_overrides):
    """A client of the real app whose docker CLI is the fake: for the API edge, without an engine."""
    settings = make_settings(docker_binary=fake_docker.binary, **settings_overrides)
    yield await serve_app(aiohttp_server, aiohttp_client, settings)


@pytest.fixture(scope="session")
def shared_daemon_url(tmp_path_factory) -> Iterator[str]:
    """The URL of one `phronosd serve` on the fake engine (default settings, its own instance), shared
    by the stateless request checks and the fuzzer: a fresh app per such test would dominate the fast
    layer's time."""
    from daemon import daemon_on_fake_engine  # daemon.py imports this module

    with daemon_on_fake_engine(tmp_path_factory.mktemp("shared-daemon"), f"{INSTANCE}-shared") as url:
        yield url
