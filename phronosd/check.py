"""`phronosd check`: what on this host would stop phronosd from working, and how to fix each thing.

Each check gives one finding: ok, warn (works, but worth fixing) or fail (a request would fail).
The exit code is 1 when anything failed.
"""

from __future__ import annotations

import grp
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .docker import DockerCli, DockerUnavailable
from .images import Images
from .languages import Registry
from .sandbox import registered_runtimes
from .settings import Settings

MIN_FREE_BYTES = 5 << 30  # a runner image is 0.2-1.5 GB; building needs room for layers beside it
DOCKER_SOCKET = Path("/var/run/docker.sock")


@dataclass(frozen=True)
class Finding:
    level: str  # ok, warn, fail
    what: str
    detail: str
    fix: str = ""


def check_docker_cli(settings: Settings) -> Finding:
    path = shutil.which(settings.docker_binary)
    if path is None:
        return Finding(
            "fail",
            "docker CLI",
            f"{settings.docker_binary!r} is not on PATH",
            "install Docker (apt-get install docker.io) or set docker_binary",
        )
    return Finding("ok", "docker CLI", path)


def check_docker_socket() -> Finding:
    """The usual cause of an unreachable engine for a service user: the socket's permissions."""
    if os.environ.get("DOCKER_HOST"):
        return Finding("ok", "docker socket", f"DOCKER_HOST={os.environ['DOCKER_HOST']}")
    try:
        info = DOCKER_SOCKET.stat()
    except FileNotFoundError:
        return Finding(
            "fail",
            "docker socket",
            f"{DOCKER_SOCKET} does not exist",
            "start the engine: systemctl start docker (or dockerd)",
        )
    if not os.access(DOCKER_SOCKET, os.R_OK | os.W_OK):
        group = grp.getgrgid(info.st_gid).gr_name
        return Finding(
            "fail",
            "docker socket",
            f"{DOCKER_SOCKET} is not writable by uid {os.getuid()}",
            f"add this user to the {group!r} group (root-equivalent; see README) and log in again",
        )
    return Finding("ok", "docker socket", f"{DOCKER_SOCKET} is writable")


async def check_engine(docker: DockerCli) -> tuple[Finding, dict[str, str]]:
    """Reachability, and the engine facts the later checks need."""
    try:
        out = await docker.check(
            ["info", "--format", "{{.ServerVersion}}|{{.CgroupVersion}}|{{.DockerRootDir}}"], timeout=20
        )
    except DockerUnavailable as exc:
        return Finding(
            "fail",
            "docker engine",
            exc.message,
            "start the engine (systemctl start docker) and check the docker socket finding",
        ), {}
    version, cgroup, root = (out.strip().split("|") + ["", "", ""])[:3]
    return Finding("ok", "docker engine", f"server {version}"), {"cgroup": cgroup, "root": root}


def check_cgroup(engine: dict[str, str]) -> Finding:
    if engine.get("cgroup") == "2":
        return Finding("ok", "cgroup", "version 2")
    return Finding(
        "warn",
        "cgroup",
        f"version {engine.get('cgroup') or 'unknown'}: supported, but v2 gives exact memory peaks and CPU figures",
        "boot with systemd.unified_cgroup_hierarchy=1 (Debian 11+ default)",
    )


def check_disk(engine: dict[str, str]) -> Finding:
    root = Path(engine.get("root") or "/var/lib/docker")
    probe = root if root.exists() else Path("/")
    free = shutil.disk_usage(probe).free
    detail = f"{free / (1 << 30):.1f} GiB free at {probe}"
    if free < MIN_FREE_BYTES:
        return Finding(
            "fail",
            "disk",
            detail + f" (less than {MIN_FREE_BYTES >> 30} GiB)",
            "free space: docker image prune (old phronosd images have other tags), or grow the disk",
        )
    return Finding("ok", "disk", detail)


RUNSC_REGISTRATION = (
    '{"runtimes": {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none", "--platform=ptrace"]}}}'
)


def registration_fix(runtime: str) -> str:
    """How to register a runtime: for gVisor, the daemon.json entry that works with phronosd's flags."""
    reload = "then reload the engine's configuration: kill -HUP $(pidof dockerd), running containers untouched"
    if runtime == "runsc":
        return (
            "apt-get install runsc (or ./install.sh --with-runsc, which does all of this); merge "
            f"{RUNSC_REGISTRATION} into /etc/docker/daemon.json (--network=none: runsc refuses the host's "
            f"network namespace otherwise; --platform=ptrace: needs no KVM); {reload}"
        )
    return f'add {runtime!r} under "runtimes" in /etc/docker/daemon.json (its binary\'s path), {reload}'


async def check_runtimes(docker: DockerCli, settings: Settings) -> list[Finding]:
    """Each container runtime the settings use, registered with the engine or not."""
    try:
        registered = await registered_runtimes(docker)
    except DockerUnavailable as exc:
        return [Finding("fail", "container runtime", exc.message, "check the docker engine finding")]
    findings = []
    for runtime in sorted(settings.runtimes(list(Registry.discover().languages))):
        what = f"runtime {runtime}"
        if runtime in registered:
            findings.append(Finding("ok", what, f"registered ({registered[runtime] or 'built in'})"))
        else:
            known = ", ".join(sorted(registered))
            detail = f"not registered with the engine (it has {known})"
            findings.append(Finding("fail", what, detail, registration_fix(runtime)))
    return findings


async def check_images(docker: DockerCli, settings: Settings) -> list[Finding]:
    registry = Registry.discover()
    images = Images(docker, settings.image_prefix, list(registry.languages.values()), settings.image_libraries)
    await images.refresh()
    findings = []
    for name in registry.languages:
        if images.ready(name):
            findings.append(Finding("ok", f"image {name}", images.tag(name)))
        else:
            findings.append(
                Finding(
                    "fail",
                    f"image {name}",
                    f"{images.tag(name)} is not built (or is outdated)",
                    f"phronosd images build {name}",
                )
            )
    return findings


def check_listen_socket(settings: Settings) -> Finding | None:
    """The Unix socket phronosd would create: its folder, any file already there, its group."""
    if not settings.unix_socket:
        return None
    path = Path(settings.unix_socket)
    what = "listen socket"
    if not path.parent.is_dir():
        return Finding(
            "fail",
            what,
            f"{path.parent} does not exist",
            f"create it (systemd: RuntimeDirectory=; by hand: install -d {path.parent})",
        )
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return Finding(
            "fail",
            what,
            f"{path.parent} is not writable by uid {os.getuid()}",
            "chown the folder to the service user, or choose another unix_socket",
        )
    if path.exists() and not stat.S_ISSOCK(path.lstat().st_mode):
        return Finding("fail", what, f"{path} exists and is not a socket", "remove it or choose another unix_socket")
    if settings.unix_socket_group:
        try:
            grp.getgrnam(settings.unix_socket_group)
        except KeyError:
            return Finding(
                "fail", what, f"no group {settings.unix_socket_group!r}", "create it, or change unix_socket_group"
            )
    return Finding("ok", what, f"{path} can be created (mode {settings.unix_socket_mode:o})")


async def run_checks(settings: Settings) -> list[Finding]:
    findings = [check_docker_cli(settings)]
    if findings[0].level == "fail":
        return findings
    docker = DockerCli(settings.docker_binary)
    findings.append(check_docker_socket())
    engine_finding, engine = await check_engine(docker)
    findings.append(engine_finding)
    if engine_finding.level == "ok":
        findings += [check_cgroup(engine), check_disk(engine), *await check_runtimes(docker, settings)]
        findings += await check_images(docker, settings)
    listen = check_listen_socket(settings)
    if listen:
        findings.append(listen)
    return findings


async def check_command(settings: Settings, say: Callable[[str], None]) -> int:
    findings = await run_checks(settings)
    for finding in findings:
        say(f"{finding.level:<4}  {finding.what}: {finding.detail}")
        if finding.fix:
            say(f"      fix: {finding.fix}")
    failed = sum(f.level == "fail" for f in findings)
    say(f"{failed} problem(s)" if failed else "no problems found")
    return 1 if failed else 0
