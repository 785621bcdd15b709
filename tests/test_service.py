"""phronosd as a service: systemd units, sd_notify, socket activation, its own Unix socket, nginx in
front, docker-compose, and the request log. Every test runs the real daemon and the real tool."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
from daemon import PHRONOSD, ROOT, Daemon, free_port, require_tool, wait_for_unix_socket

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_ready")]

GOOD = {
    "language": "python",
    "solution": "def add(a, b):\n    return a + b\n",
    "tests": "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n",
}


async def get(url: str, path: str, unix: Path | None = None, headers: dict | None = None):
    connector = aiohttp.UnixConnector(path=str(unix)) if unix else None
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(url + path, headers=headers) as response:
            return response.status, await response.text(), dict(response.headers)


async def post(url: str, path: str, body: dict, unix: Path | None = None):
    connector = aiohttp.UnixConnector(path=str(unix)) if unix else None
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(url + path, json=body) as response:
            return response.status, await response.json(), dict(response.headers)


def request_lines(log: str) -> list[dict]:
    return [json.loads(line) for line in log.splitlines() if line.startswith("{") and '"request"' in line]


# systemd ------------------------------------------------------------------------------------------


def test_units_pass_systemd_analyze_verify(tmp_path):
    """ExecStart names /usr/local/bin/phronosd (the README links it there); verify needs the binary
    to exist, so the copy verified here points at this venv's entry point instead."""
    analyze = require_tool("systemd-analyze")
    unit = (ROOT / "systemd/phronosd.service").read_text()
    assert "ExecStart=/usr/local/bin/phronosd serve" in unit
    (tmp_path / "phronosd.service").write_text(unit.replace("/usr/local/bin/phronosd", str(PHRONOSD)))
    (tmp_path / "phronosd.socket").write_text((ROOT / "systemd/phronosd.socket").read_text())
    result = subprocess.run(
        [analyze, "verify", "phronosd.service", "phronosd.socket"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # unknown keys are only warnings: none allowed


def test_sd_notify_ready_after_listen_watchdog_then_stopping(tmp_path, shared_dir):
    folder = shared_dir
    notify_path, listen = folder / "notify", folder / "api.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(notify_path))
        notify.settimeout(60)
        daemon = Daemon(
            "--unix-socket",
            str(listen),
            log=tmp_path / "log",
            env={"NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "200000"},
        )
        try:
            first = notify.recv(4096).decode()
            assert "READY=1" in first.splitlines() and f"MAINPID={daemon.proc.pid}" in first
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(str(listen))  # READY=1 came after the socket was listening
            pings = [notify.recv(4096).decode() for _ in range(3)]
            assert pings == ["WATCHDOG=1"] * 3
            daemon.proc.send_signal(15)
            while "STOPPING=1" not in (message := notify.recv(4096).decode()):
                assert message == "WATCHDOG=1"
            assert daemon.proc.wait(60) == 0
        finally:
            daemon.stop()
    assert not listen.exists()


async def test_socket_activation_serves_the_inherited_socket(tmp_path, shared_dir):
    activate = require_tool("systemd-socket-activate")
    folder = shared_dir
    activated, own = folder / "activated.sock", folder / "own.sock"
    daemon = Daemon(
        "--unix-socket", str(own), log=tmp_path / "log", argv=[activate, "--listen", str(activated), "--fdname=http"]
    )
    try:
        wait_for_unix_socket(activated, daemon.proc)
        status, body, _ = await get("http://phronosd", "/api/languages", unix=activated)
        assert status == 200 and "python" in body
        status, result, _ = await post("http://phronosd", "/api/execute/validate", GOOD, unix=activated)
        assert status == 200 and result["status"] == "passed", result
        assert "serving socket fd 3 (http) passed by systemd" in daemon.log()
        assert not own.exists()  # the inherited socket wins over the unix_socket setting
    finally:
        assert daemon.stop() == 0


# Unix socket and nginx ----------------------------------------------------------------------------


async def test_own_unix_socket_mode_group_stale_file_and_removal(tmp_path, shared_dir):
    folder = shared_dir
    path = folder / "api.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))  # a socket file left behind by a crashed run
    stale.close()
    daemon = Daemon(
        "--unix-socket", str(path), "--unix-socket-mode", "640", "--unix-socket-group", "nogroup", log=tmp_path / "log"
    )
    try:
        wait_for_unix_socket(path, daemon.proc)
        info = path.stat()
        assert stat.S_IMODE(info.st_mode) == 0o640 and info.st_gid == 65534
        status, _, _ = await get("http://phronosd", "/health", unix=path)
        assert status == 200
    finally:
        assert daemon.stop() == 0
    assert not path.exists()


def test_a_file_that_is_not_a_socket_is_never_removed(tmp_path):
    path = tmp_path / "api.sock"
    path.write_text("precious")
    daemon = Daemon("--unix-socket", str(path), log=tmp_path / "log")
    assert daemon.proc.wait(60) == 1
    assert "exists and is not a socket" in daemon.log() and path.read_text() == "precious"


def nginx_config(folder: Path, port: int, upstream: Path) -> Path:
    """The repo's site inside a minimal main config: temp prefix, pid, logs, loopback port."""
    site = (ROOT / "deploy/nginx/phronosd.conf").read_text()
    assert "server unix:/run/phronosd.sock;" in site and "listen 80;" in site
    site = (
        site.replace("server unix:/run/phronosd.sock;", f"server unix:{upstream};")
        .replace("listen 80;", f"listen 127.0.0.1:{port};")
        .replace("listen [::]:80;", "")
    )
    (folder / "site.conf").write_text(site)
    main = folder / "nginx.conf"
    main.write_text(f"""
daemon off;
user nobody nogroup;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/site.conf;
}}
""")
    return main


async def test_nginx_site_proxies_to_the_unix_socket(tmp_path, shared_dir):
    nginx = require_tool("nginx")
    folder = shared_dir
    upstream, port = folder / "api.sock", free_port()
    daemon = Daemon(
        "--unix-socket",
        str(upstream),
        "--unix-socket-group",
        "nogroup",
        "--trusted-proxies",
        "unix",
        "--log-format",
        "json",
        log=tmp_path / "log",
    )
    config = nginx_config(folder, port, upstream)
    checked = subprocess.run([nginx, "-t", "-p", str(folder), "-c", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    proxy = subprocess.Popen([nginx, "-p", str(folder), "-c", str(config)], stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_unix_socket(upstream, daemon.proc)
        for _ in range(100):
            try:
                status, result, headers = await post(url, "/api/execute/validate", GOOD)
                break
            except aiohttp.ClientConnectionError:
                time.sleep(0.05)
        assert status == 200 and result["status"] == "passed", result
        request_id = headers["X-Request-ID"]
        assert len(request_id) == 32  # nginx's $request_id, passed on
        big = {**GOOD, "solution": "x" * (3 << 20)}
        status, error, _ = await post(url, "/api/execute/validate", big)
        assert status == 413  # refused by nginx: client_max_body_size matches max_body_bytes
        assert error["error"]["code"] == "request.too_large" and error["requestId"]
        status, _, _ = await get(url, "/health", headers={"X-Forwarded-For": "203.0.113.7"})
        assert status == 200
    finally:
        proxy.terminate()
        proxy.wait(30)
        assert daemon.stop() == 0
    lines = request_lines(daemon.log())
    run = next(line for line in lines if line["request_id"] == request_id)
    assert run["route"] == "validate" and run["language"] == "python" and run["verdict"] == "passed"
    assert run["client"] == "127.0.0.1" and run["total_ms"] > 0
    health = next(line for line in lines if line["route"] == "health")
    assert health["client"] == "127.0.0.1"  # the forged hop left of nginx's is not believed


async def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(tmp_path, shared_dir):
    for trusted, expected in ((("--trusted-proxies", "unix"), "198.51.100.9"), ((), "unix")):
        folder = shared_dir
        path = folder / "api.sock"
        daemon = Daemon("--unix-socket", str(path), "--log-format", "json", *trusted, log=tmp_path / "log")
        try:
            wait_for_unix_socket(path, daemon.proc)
            await get("http://phronosd", "/api/languages", unix=path, headers={"X-Forwarded-For": "198.51.100.9"})
        finally:
            assert daemon.stop() == 0
        [line] = [line for line in request_lines(daemon.log()) if line["route"] == "languages"]
        assert line["client"] == expected


# logs ---------------------------------------------------------------------------------------------


async def test_one_request_line_without_code_at_info(tmp_path, shared_dir):
    folder = shared_dir
    path = folder / "api.sock"
    daemon = Daemon("--unix-socket", str(path), log=tmp_path / "log")
    secret = "TOKEN_abc123_never_logged"
    try:
        wait_for_unix_socket(path, daemon.proc)
        body = {**GOOD, "solution": GOOD["solution"] + f"# {secret}\n"}
        status, _, headers = await post("http://phronosd", "/api/execute/validate?token=" + secret, body, unix=path)
        assert status == 200
    finally:
        assert daemon.stop() == 0
    log = daemon.log()
    lines = [line for line in log.splitlines() if headers["X-Request-ID"] in line]
    assert len(lines) == 1, log
    assert "route=validate" in lines[0] and "language=python" in lines[0] and "verdict=passed" in lines[0]
    assert "queue_ms=" in lines[0] and "total_ms=" in lines[0]
    assert secret not in log and "def add" not in log


# compose ------------------------------------------------------------------------------------------


def test_compose_file_is_valid_and_mounts_the_docker_socket():
    compose = require_tool("docker-compose")
    result = subprocess.run(
        [compose, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "/var/run/docker.sock:/var/run/docker.sock" in result.stdout
    assert "dockerfile: deploy/Dockerfile" in result.stdout
    assert (ROOT / "deploy/Dockerfile").is_file()
