"""The one seam through which phronosd runs the docker CLI: asyncio subprocesses with capped output."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import Unavailable

READ_CHUNK = 65536


@dataclass(frozen=True)
class ProcessResult:
    """What one docker CLI call did."""

    exit_code: int | None
    stdout: bytes
    stderr: bytes
    overflow: bool
    timed_out: bool
    duration_s: float
    # A command that answered before it ended (`communicate`'s `answered`): its end, still under way.
    ending: asyncio.Task[ProcessResult] | None = None


class DockerUnavailable(Unavailable):
    def __init__(self, message: str):
        super().__init__("docker.unavailable", message)


async def read_capped(
    stream: asyncio.StreamReader,
    limit: int,
    buffer: bytearray,
    drain: bool,
    on_chunk: Callable[[bytes], None] | None = None,
) -> bool:
    """Read until EOF into `buffer`, keeping at most `limit` bytes; return True if more arrived.

    With `drain`, bytes past the cap are read and dropped (so the writer never blocks); without it
    reading stops at the cap and the caller kills the writer.
    """
    overflow = False
    while chunk := await stream.read(READ_CHUNK):
        room = limit - len(buffer)
        if len(chunk) > room:
            buffer += chunk[:room]
            overflow = True
            if not drain:
                break
        else:
            buffer += chunk
        if on_chunk is not None:
            on_chunk(chunk)
    return overflow


async def feed(stream: asyncio.StreamWriter, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stream.write(data)
        await stream.drain()
        stream.close()
        await stream.wait_closed()


async def communicate(
    proc: asyncio.subprocess.Process,
    started: float,
    stdin: bytes | None,
    timeout: float | None,
    stdout_limit: int,
    stderr_limit: int,
    on_stdout: Callable[[bytes], None] | None = None,
    answered: Callable[[bytearray], bool] | None = None,
) -> ProcessResult:
    """Feed `stdin` (then close it) and read a started command's output to its end, within the caps
    and the timeout; the command is killed at either. `on_stdout` sees stdout as it arrives.

    `answered(stdout so far)`, asked whenever a line ends, says that stdout already holds all the
    command will say: the result then comes at once (exit code None), and the command's end (its
    exit, or its kill at the timeout) goes on as the result's `ending`."""
    out = bytearray()
    answer = asyncio.Event()

    def on_chunk(chunk: bytes) -> None:
        if on_stdout is not None:
            on_stdout(chunk)
        if answered is not None and b"\n" in chunk and answered(out):
            answer.set()

    async def to_end() -> ProcessResult:
        """The work: stdout read into `out`, stderr, stdin fed, the exit awaited; a command past a cap
        or the timeout (or whose reader is cancelled) is killed and waited for."""
        err = bytearray()
        overflow = timed_out = False
        assert proc.stdout is not None and proc.stderr is not None
        tasks: list[asyncio.Future] = [
            asyncio.ensure_future(read_capped(proc.stdout, stdout_limit, out, drain=False, on_chunk=on_chunk)),
            asyncio.ensure_future(read_capped(proc.stderr, stderr_limit, err, drain=True)),
        ]
        if stdin is not None:
            assert proc.stdin is not None
            tasks.append(asyncio.ensure_future(feed(proc.stdin, stdin)))
        try:
            async with asyncio.timeout(timeout):
                overflow = await tasks[0]
                if not overflow:
                    await asyncio.gather(*tasks[1:])
                    await proc.wait()
        except TimeoutError:
            timed_out = True
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            for task in tasks:
                task.cancel()
            await asyncio.shield(proc.wait())
        return ProcessResult(
            exit_code=None if overflow or timed_out else proc.returncode,
            stdout=bytes(out),
            stderr=bytes(err),
            overflow=overflow,
            timed_out=timed_out,
            duration_s=time.monotonic() - started,
        )

    ending = asyncio.ensure_future(to_end())
    if answered is None:
        return await ending
    waiting = asyncio.ensure_future(answer.wait())
    try:
        await asyncio.wait((ending, waiting), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        ending.cancel()  # the command is killed and waited for, as without `answered`
        await asyncio.gather(ending, return_exceptions=True)
        raise
    finally:
        waiting.cancel()
    if ending.done():
        return ending.result()
    return ProcessResult(
        exit_code=None,
        stdout=bytes(out),
        stderr=b"",
        overflow=False,
        timed_out=False,
        duration_s=time.monotonic() - started,
        ending=ending,
    )


class DockerCli:
    """Runs `docker ...` commands; each call is bounded in time and in the bytes kept."""

    def __init__(self, binary: str = "docker"):
        self.binary = binary
        self.env = {**os.environ, "DOCKER_BUILDKIT": "0"}

    async def spawn(self, args: list[str], *, stdin: bool = False) -> asyncio.subprocess.Process:
        """Start one command (stdout and stderr piped; stdin piped only if asked)."""
        try:
            return await asyncio.create_subprocess_exec(
                self.binary,
                *args,
                stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self.env,
            )
        except (FileNotFoundError, PermissionError) as exc:
            raise DockerUnavailable(f"cannot run the docker CLI {self.binary!r}: {exc.strerror}") from None

    async def run(
        self,
        args: list[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = 30.0,
        stdout_limit: int = 1 << 20,
        stderr_limit: int = 64 << 10,
    ) -> ProcessResult:
        """Run one command. At the stdout cap or the timeout the client is killed (the caller cleans
        up whatever it started: killing the docker client does not stop a container)."""
        started = time.monotonic()
        proc = await self.spawn(args, stdin=stdin is not None)
        return await communicate(proc, started, stdin, timeout, stdout_limit, stderr_limit)

    async def check(self, args: list[str], timeout: float = 30.0) -> str:
        """Run a command that must succeed; return its stdout as text."""
        result = await self.run(args, timeout=timeout)
        if result.exit_code != 0:
            reason = "timed out" if result.timed_out else result.stderr.decode("utf-8", "replace").strip()
            raise DockerUnavailable(f"docker {args[0]} failed: {reason[:300]}")
        return result.stdout.decode("utf-8", "replace")
