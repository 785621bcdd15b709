"""One hardened container per job: the `docker run` flags, the job sent over stdin, the result frame
read back from stdout, and the guarantee that the container is gone afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .docker import DockerCli, DockerUnavailable, ProcessResult, communicate, feed
from .languages import Language

if TYPE_CHECKING:
    from .pool import PooledContainer

log = logging.getLogger(__name__)
T = TypeVar("T")

SANDBOX_USER = "65534:65534"
# A compare job's container: its supervisor starts as root with these capabilities alone, to run each
# solution under a user of its own (handlers/README.md, Compare jobs); the code under test never holds
# any of them (no-new-privileges, and a change to a non-root user clears them).
COMPARE_USER = "0:0"
COMPARE_CAPABILITIES = ("SETUID", "SETGID", "KILL", "CHOWN", "DAC_OVERRIDE", "FOWNER")
LABEL = "phronosd"
INSTANCE_LABEL = "phronosd.instance"
STDERR_LIMIT = 64 << 10
REPORT_LIMIT = 16 << 20
# The supervisor enforces the job's own deadline; the daemon's deadline only catches a supervisor
# that cannot act (stopped, starved), so it allows for container start-up on a loaded machine.
BACKSTOP_SLACK_S = 3.0
MEASURE_GRACE_S = 10.0
JOB_TAKEN_TIMEOUT_S = 5.0
LIVE_LINE_LIMIT = 1 << 16  # a longer partial line is no live event (they are short): dropped
# `docker rm -f` answers that say the container is gone or going: not a cleanup failure
REMOVED_ANYWAY = (b"No such container", b"is already in progress")
SEAL_LENGTH = 64  # hex digits of the HMAC-SHA256 that leads every line the supervisor writes for us
LIVE_EVENT = b":event:"
KILLED_EXIT = 128 + 9  # docker run's status for a container whose main process got SIGKILL
# What a pooled container's supervisor prints on stdout (handlers/_shared/supervisor.py): once its
# harness has loaded, and once it has read its job. Nothing of the job's has run before either.
READY_LINE = b"phronosd-ready\n"
JOB_TAKEN_LINE = b"phronosd-job\n"
POOLED_ENV = "PHRONOSD_POOLED"
# gVisor's own host tasks count in its container's pids cgroup: the Sentry's threads (about 40) and, on
# the ptrace platform, a stub process per process alive at the busiest moment, each gaining a thread
# for every Sentry thread that runs it, none released. A compare job of three Rust solutions peaked at
# 261 tasks; at the limit the Sentry cannot start a thread and the container dies (status 2, no
# result). Under such a runtime the cgroup gets this many times `pids_limit` (README: Isolation).
SANDBOX_TASKS_FACTOR = {"runsc": 4}
# How the engine reports that the runtime's own command failed (`docker update` under runsc, which has
# no `update`: "/var/lib/docker/runtimes/runsc did not terminate successfully: exit status 128").
RUNTIME_FAILED = b"did not terminate successfully"


@dataclass(frozen=True)
class Limits:
    timeout_ms: int
    compile_timeout_ms: int
    memory_mb: int
    cpuset: str
    cpu_quota: float | None  # None on a measuring core: a quota would throttle the timed phase
    pids: int
    output_limit: int
    runtime: str = "runc"  # the engine's container runtime (`docker run --runtime`): runc, runsc, ...


@dataclass(frozen=True)
class ContainerOutcome:
    """What happened to one container, before any interpretation."""

    frame: dict[str, Any] | None
    exit_code: int | None
    timed_out: bool
    overflow: bool
    docker_error: str
    duration_ms: float
    oom_killed: bool = False  # the engine recorded an OOM kill of a container that reported nothing
    pooled: bool = False  # the job ran in a warm pool container
    runtime: str = "runc"  # the container runtime it ran under
    # A container that answered before it was gone: its exit and removal, under way (`Sandbox.attend`).
    ending: asyncio.Task[None] | None = None

    @property
    def clean(self) -> bool:
        """The container reported and exited by itself: `--rm` removes it, no `docker rm` needed."""
        return self.frame is not None and not self.timed_out


EventHandler = Callable[[dict[str, Any]], None]


def cgroup_pids(limits: Limits) -> int:
    """The container's pids cgroup limit: the code's `pids`, with room for the runtime's own tasks."""
    return limits.pids * SANDBOX_TASKS_FACTOR.get(limits.runtime, 1)


def container_name() -> str:
    return f"phronosd-{secrets.token_hex(8)}"


def job_payload(job: dict[str, Any], limits: Limits) -> tuple[bytes, str]:
    """The supervisor's stdin: the job with its limits and a fresh nonce (returned too)."""
    nonce = secrets.token_hex(16)
    payload = {
        **job,
        "nonce": nonce,
        "timeoutMs": limits.timeout_ms,
        "compileTimeoutMs": limits.compile_timeout_ms,
        "outputLimit": limits.output_limit,
    }
    return json.dumps(payload).encode(), nonce


def frame_limit(output_limit: int) -> int:
    """Bytes of container stdout kept: two capped streams (JSON escaping may grow them 6x) + events."""
    return 12 * output_limit + REPORT_LIMIT + (1 << 20)


def unseal(line: bytes, nonce: str, kind: bytes) -> bytes | None:
    """The payload of a line the supervisor sealed (`<hex HMAC-SHA256 of the payload, keyed with the
    job's nonce><payload>`) whose payload starts with `kind`, else None. The nonce itself never
    appears on stdout: the code under test can read the container's stdout (handlers/_shared/
    supervisor.py), and a line carrying the nonce would hand it the key to forge the frame."""
    tag, payload = line[:SEAL_LENGTH], line[SEAL_LENGTH:]
    if not payload.startswith(kind):
        return None
    expected = hmac.new(nonce.encode(), payload, hashlib.sha256).hexdigest().encode()
    return payload if hmac.compare_digest(tag, expected) else None


def json_object(text: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class LiveEvents:
    """Splits a container's stdout as it arrives and passes on the supervisor's live events (sealed
    `:event:<json>` lines: phase and progress) to `on_event`."""

    def __init__(self, nonce: str, on_event: Callable[[dict[str, Any]], None]):
        self.nonce = nonce
        self.on_event = on_event
        self.pending = b""

    def feed(self, chunk: bytes) -> None:
        *lines, self.pending = (self.pending + chunk).split(b"\n")
        if len(self.pending) > LIVE_LINE_LIMIT:
            self.pending = b""
        for line in lines:
            payload = unseal(line, self.nonce, LIVE_EVENT)
            event = None if payload is None else json_object(payload[len(LIVE_EVENT) :])
            if event is not None:
                self.on_event(event)


def ends_with_frame(stdout: bytearray, nonce: str) -> bool:
    """Whether stdout's last line is a sealed frame: the supervisor's last word, after which its
    container only exits (nothing it says later is read)."""
    if not stdout.endswith(b"\n"):
        return False
    start = stdout.rfind(b"\n", 0, len(stdout) - 1) + 1
    return unseal(bytes(stdout[start:-1]), nonce, b"{") is not None


def extract_frame(stdout: bytes, nonce: str) -> dict[str, Any] | None:
    """The last sealed frame (`<seal>{...}`) on the container's stdout."""
    for line in reversed(stdout.split(b"\n")):
        payload = unseal(line, nonce, b"{")
        if payload is not None:
            return json_object(payload)
    return None


async def registered_runtimes(docker: DockerCli) -> dict[str, str]:
    """The engine's container runtimes (`runtimes` in daemon.json, plus runc): name -> path."""
    text = await docker.check(["info", "--format", "{{json .Runtimes}}"], timeout=20)
    try:
        listed = json.loads(text)
    except ValueError:
        listed = None
    if not isinstance(listed, dict):
        raise DockerUnavailable(f"docker info did not list the engine's runtimes: {text.strip()[:100]!r}")
    return {name: str(spec.get("path", "")) if isinstance(spec, dict) else "" for name, spec in listed.items()}


class Sandbox:
    """Runs jobs in containers labelled with this daemon's instance name."""

    def __init__(self, docker: DockerCli, instance: str):
        self.docker = docker
        self.instance = instance
        self.removals: set[asyncio.Task] = set()
        self.unremoved: set[str] = set()
        self.cleanup_failures = 0  # read by metrics.py (phronosd_container_cleanup_failures)
        self.fixed_limit_runtimes: set[str] = set()  # runtimes that refused `docker update` (see relimit)

    def run_args(
        self,
        name: str,
        image: str,
        language: Language,
        limits: Limits,
        pooled_env: str | None = None,
        compare: bool = False,
    ) -> list[str]:
        """The `docker run` arguments; `compare`: a compare job's container, whose supervisor gives each
        solution a user of its own."""

        def tmpfs(path: str, size_mb: int) -> str:
            owner = "uid=0,gid=0" if compare else "uid=65534,gid=65534"
            return f"{path}:rw,exec,nosuid,nodev,size={size_mb}m,{owner}"

        largest_file = max(language.work_tmpfs_mb, language.tmp_tmpfs_mb) << 20
        return [
            "run",
            "-i",
            "--rm",
            "--runtime",
            limits.runtime,
            "--name",
            name,
            "--label",
            LABEL,
            "--label",
            f"{INSTANCE_LABEL}={self.instance}",
            "--network",
            "none",
            "--memory",
            f"{limits.memory_mb}m",
            "--memory-swap",
            f"{limits.memory_mb}m",
            "--cpuset-cpus",
            limits.cpuset,
            *(["--cpus", f"{limits.cpu_quota:g}"] if limits.cpu_quota else []),
            "--pids-limit",
            str(cgroup_pids(limits)),
            "--read-only",
            "--tmpfs",
            tmpfs("/work", language.work_tmpfs_mb),
            "--tmpfs",
            tmpfs("/tmp", language.tmp_tmpfs_mb),
            "--cap-drop",
            "ALL",
            *(arg for capability in COMPARE_CAPABILITIES if compare for arg in ("--cap-add", capability)),
            "--security-opt",
            "no-new-privileges",
            "--user",
            COMPARE_USER if compare else SANDBOX_USER,
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            f"fsize={largest_file}",
            "--log-driver",
            "none",
            "--workdir",
            "/work",
            "--env",
            "HOME=/tmp",
            *(["--env", f"{POOLED_ENV}={pooled_env}"] if pooled_env is not None else []),
            image,
        ]

    async def run(
        self,
        image: str,
        language: Language,
        job: dict[str, Any],
        limits: Limits,
        measure_budget_ms: int = 0,
        on_event: EventHandler | None = None,
        entrants: int = 1,
    ) -> ContainerOutcome:
        """Run one job in a new container; it is removed whatever happens, cancellation included.
        `on_event` gets the supervisor's live events (phase, progress) as they happen; `entrants`:
        the solutions of a compare job, validated one after the other."""
        name = container_name()
        outcome = None
        try:
            started = time.monotonic()
            args = self.run_args(name, image, language, limits, compare=job["mode"] == "compare")
            proc = await self.docker.spawn(args, stdin=True)
            payload, nonce = job_payload(job, limits)
            outcome = await self.attend(
                name, proc, started, nonce, limits, measure_budget_ms, payload, on_event, entrants
            )
            return outcome
        finally:
            if outcome is None or not outcome.clean:
                # `--rm` removes a container that exited; one whose client was killed (timeout,
                # output cap, cancellation) keeps running until removed by name.
                await self.remove(name)

    async def run_pooled(
        self, container: PooledContainer, job: dict[str, Any], limits: Limits, on_event: EventHandler | None = None
    ) -> ContainerOutcome | None:
        """Run one validation job in a ready pooled container (re-limited first if the request's memory
        differs); None when the container turned out dead before it took the job: start a cold one."""
        outcome = None
        try:
            started = time.monotonic()
            if limits.memory_mb != container.memory_mb and not await self.relimit(container, limits):
                return None
            proc = container.proc
            assert proc.stdin is not None and proc.stdout is not None
            payload, nonce = job_payload(job, limits)
            try:
                await feed(proc.stdin, payload)
                async with asyncio.timeout(JOB_TAKEN_TIMEOUT_S):
                    taken = await proc.stdout.readline()
            except TimeoutError:
                taken = b""
            if taken != JOB_TAKEN_LINE:
                return None
            attended = await self.attend(container.name, proc, started, nonce, limits, 0, None, on_event)
            outcome = dataclasses.replace(attended, pooled=True)
            return outcome
        finally:
            if outcome is None or not outcome.clean:
                await self.remove(container.name)

    def can_relimit(self, runtime: str) -> bool:
        """Whether a running container of this runtime can get another memory limit (`docker update`)."""
        return runtime not in self.fixed_limit_runtimes

    async def relimit(self, container: PooledContainer, limits: Limits) -> bool:
        """Give a pooled container the request's memory limit (`docker update`). A runtime that refuses
        it while the container runs (gVisor's runsc has no `update` command) is remembered, and its
        pooled containers then take only jobs of their own limit (`WarmPool.fits`)."""
        memory = f"{limits.memory_mb}m"
        update = await self.docker.run(["update", "--memory", memory, "--memory-swap", memory, container.name])
        if update.exit_code == 0:
            return True
        runtime_refused = RUNTIME_FAILED in update.stderr  # not the container's state: the runtime's own error
        if container.alive() and runtime_refused and limits.runtime not in self.fixed_limit_runtimes:
            self.fixed_limit_runtimes.add(limits.runtime)
            log.info(
                "runtime %s cannot re-limit a running container (docker update failed in the runtime): "
                "a request whose memory differs from the warm pool's gets a cold container",
                limits.runtime,
            )
        return False

    async def attend(
        self,
        name: str,
        proc: asyncio.subprocess.Process,
        started: float,
        nonce: str,
        limits: Limits,
        measure_budget_ms: int,
        payload: bytes | None = None,
        on_event: EventHandler | None = None,
        entrants: int = 1,
    ) -> ContainerOutcome:
        """Send the job (unless it was sent) to a started container's supervisor (`docker run -i`) and
        read its result frame. The outcome comes as soon as the frame has: the container's exit and
        removal (about 70 ms for Python's, 100 ms for Go's) go on as its `ending`, which whoever holds
        the container's slot waits for."""
        deadline = entrants * (limits.compile_timeout_ms + limits.timeout_ms) / 1000 + BACKSTOP_SLACK_S
        if measure_budget_ms:
            deadline += measure_budget_ms / 1000 + MEASURE_GRACE_S
        since = time.time()
        live = LiveEvents(nonce, on_event).feed if on_event else None
        result = await communicate(
            proc,
            started,
            payload,
            deadline,
            frame_limit(limits.output_limit),
            STDERR_LIMIT,
            on_stdout=live,
            answered=lambda stdout: ends_with_frame(stdout, nonce),
        )
        frame = None if result.overflow else extract_frame(result.stdout, nonce)
        killed = frame is None and result.exit_code == KILLED_EXIT
        return ContainerOutcome(
            frame=frame,
            exit_code=result.exit_code,
            timed_out=result.timed_out,
            overflow=result.overflow,
            docker_error=result.stderr.decode("utf-8", "replace").strip(),
            duration_ms=result.duration_s * 1000,
            oom_killed=killed and await self.oom_recorded(name, since),
            runtime=limits.runtime,
            ending=None if result.ending is None else self.tracked(self.gone(name, result.ending)),
        )

    async def gone(self, name: str, ending: asyncio.Task[ProcessResult]) -> None:
        """The end of a container that answered; one whose client was killed at the deadline (the
        container did not exit), or failed, is removed by name."""
        exited = False
        try:
            exited = (await ending).exit_code is not None
        finally:
            if not exited:
                await self.remove(name)

    def tracked(self, removal: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """A container's removal as a task that the shutdown waits for (`drain_removals`)."""
        task = asyncio.ensure_future(removal)
        self.removals.add(task)
        task.add_done_callback(self.removals.discard)
        return task

    async def oom_recorded(self, name: str, since: float) -> bool:
        """Whether the engine recorded an OOM kill in the container: a container SIGKILLed as a whole
        (exit 137) was killed by the kernel's OOM killer, or from outside (`docker kill`, `docker rm
        -f` by someone else). `--rm` has removed it, but the engine's event log still has it."""
        result = await self.docker.run(
            [
                "events",
                "--since",
                f"{since - 1:.0f}",
                "--until",
                f"{time.time() + 1:.0f}",
                "--filter",
                f"container={name}",
                "--filter",
                "event=oom",
                "--format",
                "{{.Status}}",
            ],
            timeout=10,
        )
        return b"oom" in result.stdout

    async def remove(self, name: str) -> None:
        """`docker rm -f` by name; a name that could not be removed (engine down) is kept for a retry."""
        task = self.tracked(self.docker.run(["rm", "-f", name], timeout=30))
        with contextlib.suppress(Exception):
            result = await asyncio.shield(task)
            # "already in progress": the container exited and `--rm` is removing it
            if result.exit_code == 0 or any(gone in result.stderr for gone in REMOVED_ANYWAY):
                log.info("removed container %s", name)
                self.unremoved.discard(name)
                return
            log.warning("removing container %s failed: %s", name, result.stderr[:200])
        self.cleanup_failures += 1
        self.unremoved.add(name)

    async def retry_removals(self) -> None:
        """Remove the containers whose removal failed before (called once the engine answers again)."""
        for name in list(self.unremoved):
            await self.remove(name)

    async def sweep(self) -> int:
        """Remove every container of this instance (orphans of a crash, or leftovers at shutdown)."""
        listed = await self.docker.run(["ps", "-aq", "--filter", f"label={INSTANCE_LABEL}={self.instance}"])
        ids = listed.stdout.decode().split()
        if ids:
            await self.docker.run(["rm", "-f", *ids], timeout=60)
        return len(ids)

    async def drain_removals(self) -> None:
        if self.removals:
            await asyncio.gather(*self.removals, return_exceptions=True)
