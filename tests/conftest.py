"""Fixtures: the real app against the real Docker engine and runner images.

A test that needs Docker fails (never skips) when Docker or an image is missing: run the README's
test command, which installs and starts what the tests need. Every test's containers carry a label
unique to this test session; after each test none may be left, and the session sweeps them at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from phronosd.app import create_app
from phronosd.images import LANGUAGE_LABEL
from phronosd.sandbox import INSTANCE_LABEL
from phronosd.server import runner_options
from phronosd.settings import load

INSTANCE = f"test-{os.getpid()}"


def docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)


def leftover_containers(instance: str = INSTANCE) -> list[str]:
    """Containers (running or not) labelled with a daemon instance, by default this test session's."""
    return docker("ps", "-aq", "--filter", f"label={INSTANCE_LABEL}={instance}").stdout.split()


def make_settings(**overrides: Any):
    values = {"instance_name": INSTANCE, "docker_probe_ttl_s": "0", **{k: str(v) for k, v in overrides.items()}}
    return load(values, env={}, cwd=Path("/nonexistent"))


@pytest.fixture(scope="session")
def docker_ready() -> None:
    """Fail the test (not skip) when no Docker engine answers."""
    try:
        info = docker("info", "--format", "{{.ServerVersion}}")
    except FileNotFoundError:
        pytest.fail("the docker CLI is not installed; run the README's install command", pytrace=False)
    if info.returncode != 0:
        pytest.fail(f"Docker is not reachable ({info.stderr.strip()[:200]}); run ./install.sh --no-start, which starts dockerd", pytrace=False)
    yield
    ids = leftover_containers()
    if ids:
        docker("rm", "-f", *ids)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module (or with @pytest.mark.parametrize) to change the app's settings."""
    return {}


@pytest.fixture
async def client(aiohttp_server, aiohttp_client, docker_ready, settings_overrides):
    """A client of the real app, served with the daemon's own runner options (the test server
    always cancels the handler of a client that disconnects, as `phronosd serve` does)."""
    settings = make_settings(**settings_overrides)
    server = await aiohttp_server(create_app(settings), **runner_options(settings))
    test_client = await aiohttp_client(server)
    yield test_client
    await test_client.close()
    left = leftover_containers()
    assert not left, f"containers left behind: {left}"


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
