"""`phronosd check` on this host, and on hosts broken in the ways it names."""

from __future__ import annotations

import subprocess

from daemon import PHRONOSD


def check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(PHRONOSD), *args, "check"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", **(env or {})},
    )


def test_this_host_reaches_docker_and_has_the_python_image(docker_ready):
    result = check()
    assert "ok    docker engine: server" in result.stdout, result.stdout
    assert "ok    image python: phronosd-python:" in result.stdout
    assert "cgroup: version" in result.stdout and "disk:" in result.stdout
    failed = [line for line in result.stdout.splitlines() if line.startswith("fail")]
    assert result.returncode == (1 if failed else 0), result.stdout


def test_missing_docker_cli_is_a_problem_with_a_fix():
    result = check("--docker-binary", "no-such-docker")
    assert result.returncode == 1
    assert "fail  docker CLI" in result.stdout and "fix: install Docker" in result.stdout


def test_unreachable_engine_is_a_problem_with_a_fix(tmp_path):
    fake = tmp_path / "docker"
    fake.write_text(
        "#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    result = check("--docker-binary", str(fake))
    assert result.returncode == 1
    assert "fail  docker engine" in result.stdout and "Cannot connect" in result.stdout
    assert "fix: start the engine" in result.stdout


def test_unix_socket_problems_are_named(fake_docker, shared_dir):
    def check_socket(*args: str) -> subprocess.CompletedProcess:
        return check("--docker-binary", fake_docker.binary, *args, env=fake_docker.env)

    result = check_socket("--unix-socket", "/nonexistent/dir/phronosd.sock")
    assert result.returncode == 1 and "/nonexistent/dir does not exist" in result.stdout
    folder = shared_dir
    (folder / "taken").write_text("")
    result = check_socket("--unix-socket", str(folder / "taken"))
    assert result.returncode == 1 and "exists and is not a socket" in result.stdout
    result = check_socket("--unix-socket", str(folder / "ok.sock"), "--unix-socket-group", "no-such-group-x")
    assert result.returncode == 1 and "no group 'no-such-group-x'" in result.stdout
    assert "ok    docker engine: server 27.5.1-fake" in result.stdout
