"""A client of the phronosd API, for scripts and for the `phronosd validate|run|compare` commands.

    from pathlib import Path
    from phronosd.client import Client, SyncClient, PhronosdError, submission

    body = submission(Path("fib.py"), Path("test_fib.py"))           # language from the extension
    async with Client("http://127.0.0.1:3001") as client:
        verdict = await client.validate(body)                       # POST /api/execute/validate
        measured = await client.execute("run", {**body, "runs": 50})  # a `run` job, followed to its end
    with SyncClient(socket="/run/phronosd.sock", token="...") as client:
        verdict = client.validate(body)

Every error the daemon answers raises `PhronosdError` (`.code`, `.status`, `.message`,
`.request_id`, `.details`: the API's error shape); `Unreachable`, a subclass, when nothing answers.
Only aiohttp is needed: importing this module loads nothing of the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlencode

import aiohttp

DEFAULT_URL = "http://127.0.0.1:3001"
CONNECT_TIMEOUT_S = 10.0
# The events stream sends a keep-alive comment every 15 s: silence for longer means a dead peer.
EVENTS_READ_TIMEOUT_S = 60.0
RECONNECTS = 5

# The language of a file from its extension (the daemon's names; `--language` names any other).
EXTENSIONS = {
    ".py": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".cpp": "cpp",
    ".cc": "cpp",
    ".cxx": "cpp",
    ".c++": "cpp",
    ".h": "cpp",
    ".hh": "cpp",
    ".hpp": "cpp",
    ".hxx": "cpp",
}
# How tests import a module by its file name, for the languages where that name matters; `{m}` is the
# file's stem. Go, Rust, Java and C++ need no name: the daemon places those files from their code.
PYTHON_IMPORT = r"^[ \t]*(?:from[ \t]+{m}[ \t]+import\b|import[ \t]+(?:[\w.]+[ \t]*,[ \t]*)*{m}\b)"
JS_IMPORT = r"""(?:\brequire\s*\(\s*|\bfrom\s*|\bimport\s*\(?\s*)(['"])\./{m}(?:\.[cm]?[jt]sx?)?\1"""
IMPORTS = {".py": PYTHON_IMPORT, **{ext: JS_IMPORT for ext in (".js", ".mjs", ".cjs", ".ts", ".mts", ".cts")}}


class PhronosdError(Exception):
    """An error the daemon answered (its `{"error": {code, message, details}, "requestId"}`), or one
    of the client's own (`client.*` codes, `status` None)."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        request_id: str | None = None,
        details: Sequence[dict[str, Any]] = (),
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id
        self.details = list(details)


class Unreachable(PhronosdError):
    """Nothing answered: connection refused, no such socket, a timeout, or the connection dropped."""

    def __init__(self, where: str, reason: str):
        super().__init__("client.unreachable", f"cannot reach phronosd at {where}: {reason}")


class RequestProblem(ValueError):
    """A request that cannot be built from the files given: a missing file, an unknown extension."""


@dataclass(frozen=True)
class Event:
    """One server-sent event of a job: `status`, `progress` or `result` (the job document)."""

    id: int | None
    kind: str
    data: Any


class EventDecoder:
    """Server-sent events from a byte stream fed in arbitrary chunks (no line-length limit: a
    `result` event carries the whole verdict on one line)."""

    def __init__(self) -> None:
        self.pending: list[bytes] = []  # the start of a line not yet ended (joined once it ends: linear time)
        self.fields: dict[str, str] = {}
        self.data: list[str] = []

    def feed(self, chunk: bytes) -> list[Event]:
        *ended, rest = chunk.split(b"\n")
        if not ended:
            self.pending.append(rest)
            return []
        lines = [b"".join(self.pending) + ended[0], *ended[1:]]
        self.pending = [rest]
        return [event for line in lines if (event := self.line(line.rstrip(b"\r").decode("utf-8", "replace")))]

    def line(self, line: str) -> Event | None:
        if not line:
            return self.dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self.data.append(value)
        else:
            self.fields[name] = value
        return None

    def dispatch(self) -> Event | None:
        fields, data = self.fields, self.data
        self.fields, self.data = {}, []
        if not data:
            return None
        number = fields.get("id", "")
        try:
            payload = json.loads("\n".join(data))
        except ValueError:
            raise PhronosdError("client.bad_response", "an event whose data is not JSON") from None
        return Event(int(number) if number.isdigit() else None, fields.get("event", "message"), payload)


def json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def error_from(status: int, body: Any, text: str, request_id: str | None) -> PhronosdError:
    """The typed error of a 4xx/5xx answer: the API's error shape, or (from a proxy in between) its text."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and "code" in error:
        return PhronosdError(
            str(error["code"]),
            str(error.get("message", "")),
            status,
            body.get("requestId") or request_id,
            error.get("details") or (),
        )
    return PhronosdError(f"http.{status}", f"HTTP {status}: {text.strip()[:200] or 'no body'}", status, request_id)


def job_outcome(job: dict[str, Any]) -> dict[str, Any]:
    """The result of a finished job; its error (or cancellation) raised as `PhronosdError`."""
    if job["status"] == "succeeded":
        return job["result"]
    error = job.get("error") or {}
    if job["status"] == "failed" and isinstance(error.get("error"), dict):
        raise PhronosdError(
            error["error"].get("code", "internal"),
            error["error"].get("message", ""),
            None,
            error.get("requestId"),
            error["error"].get("details") or (),
        )
    raise PhronosdError(f"jobs.{job['status']}", f"job {job['id']} ended {job['status']}", None, job["id"])


class Client:
    """The API over TCP (`url`) or a Unix socket (`socket`), with an optional bearer token. Use it as
    an async context manager, or call `close()`."""

    def __init__(self, url: str = DEFAULT_URL, *, socket: str | None = None, token: str | None = None):
        self.base = "http://phronosd" if socket else url.rstrip("/")
        self.where = socket or self.base
        self.socket = socket
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    def http(self) -> aiohttp.ClientSession:
        """The session, made on first use (inside the event loop that uses it)."""
        if self.session is None:
            connector = aiohttp.UnixConnector(path=self.socket) if self.socket else None
            self.session = aiohttp.ClientSession(connector=connector, headers=self.headers)
        return self.session

    @contextlib.contextmanager
    def reaching(self):
        """Connection failures as `Unreachable`."""
        try:
            yield
        except aiohttp.ClientConnectorError as exc:
            error = exc.os_error
            raise Unreachable(self.where, os.strerror(error.errno) if error.errno else str(error)) from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            raise Unreachable(self.where, str(exc) or type(exc).__name__) from exc

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request; the JSON answer, or the typed error."""
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S)
        with self.reaching():
            async with self.http().request(method, self.base + path, json=body, timeout=timeout) as response:
                text = await response.text(errors="replace")
        answer = json_or_none(text)
        if response.status >= 400:
            raise error_from(response.status, answer, text, response.headers.get("X-Request-ID"))
        if answer is None:
            raise PhronosdError(
                "client.bad_response",
                f"HTTP {response.status} without a JSON body",
                response.status,
                response.headers.get("X-Request-ID"),
            )
        return answer

    async def health(self) -> dict[str, Any]:
        return await self.call("GET", "/health")

    async def languages(self) -> list[dict[str, Any]]:
        return (await self.call("GET", "/api/languages"))["languages"]

    async def validate(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self.call("POST", "/api/execute/validate", request)

    async def run(self, request: dict[str, Any]) -> dict[str, Any]:
        """The synchronous `/run` (no progress); `execute("run", ...)` follows a job instead."""
        return await self.call("POST", "/api/execute/run", request)

    async def compare(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self.call("POST", "/api/execute/compare", request)

    async def submit(self, kind: str, request: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """A job of `kind` (validate, run, compare); the job document (with its `id`)."""
        body = {"kind": kind, "request": request, **({"idempotencyKey": idempotency_key} if idempotency_key else {})}
        return await self.call("POST", "/api/jobs", body)

    async def job(self, job_id: str) -> dict[str, Any]:
        return await self.call("GET", f"/api/jobs/{job_id}")

    async def jobs(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The caller's recent jobs, newest first, without results (of one status if given)."""
        query = urlencode({"limit": limit, **({"status": status} if status else {})})
        return (await self.call("GET", f"/api/jobs?{query}"))["jobs"]

    async def cancel(self, job_id: str) -> dict[str, Any]:
        return await self.call("DELETE", f"/api/jobs/{job_id}")

    async def events(self, job_id: str, after: int = 0) -> AsyncGenerator[Event, None]:
        """One connection to the job's event stream, from the event after number `after`."""
        headers = {"Last-Event-ID": str(after)} if after else {}
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S, sock_read=EVENTS_READ_TIMEOUT_S)
        decoder = EventDecoder()
        with self.reaching():
            async with self.http().get(
                f"{self.base}/api/jobs/{job_id}/events", headers=headers, timeout=timeout
            ) as response:
                if response.status >= 400:
                    text = await response.text(errors="replace")
                    raise error_from(response.status, json_or_none(text), text, response.headers.get("X-Request-ID"))
                async for chunk in response.content.iter_any():
                    for event in decoder.feed(chunk):
                        yield event

    async def follow(self, job_id: str) -> AsyncGenerator[Event, None]:
        """Every event of the job up to its `result` (the last one), reconnecting and resuming after
        the last event seen when the stream breaks."""
        last, failures = 0, 0
        while True:
            try:
                async with contextlib.aclosing(self.events(job_id, last)) as stream:
                    async for event in stream:
                        last, failures = event.id or last, 0
                        yield event
                        if event.kind == "result":
                            return
            except Unreachable as broken:
                problem: PhronosdError = broken
            else:
                problem = PhronosdError("client.stream_ended", f"the events of job {job_id} ended before its result")
            failures += 1
            if failures > RECONNECTS:
                raise problem
            await asyncio.sleep(0.5 * failures)

    async def execute(
        self, kind: str, request: dict[str, Any], on_event: Callable[[Event], None] | None = None
    ) -> dict[str, Any]:
        """Submit a job and follow it to its end: the endpoint's answer, as `/api/execute/<kind>` gives
        it. `on_event` sees every event. A job whose caller is cancelled (Ctrl-C) is cancelled too."""
        job = await self.submit(kind, request)
        try:
            async with contextlib.aclosing(self.follow(job["id"])) as events:
                async for event in events:
                    if on_event is not None:
                        on_event(event)
        except asyncio.CancelledError:
            with contextlib.suppress(PhronosdError, asyncio.CancelledError):
                await asyncio.wait_for(self.cancel(job["id"]), CONNECT_TIMEOUT_S)
            raise
        return job_outcome(event.data)  # `follow` ends with the `result` event


class SyncClient:
    """`Client` for code without an event loop: the same methods, blocking. Use it as a context
    manager, or call `close()`."""

    def __init__(self, url: str = DEFAULT_URL, *, socket: str | None = None, token: str | None = None):
        self.client = Client(url, socket=socket, token=token)
        self.runner = asyncio.Runner()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.runner.run(self.client.close())
        self.runner.close()

    def health(self) -> dict[str, Any]:
        return self.runner.run(self.client.health())

    def languages(self) -> list[dict[str, Any]]:
        return self.runner.run(self.client.languages())

    def validate(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.runner.run(self.client.validate(request))

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.runner.run(self.client.run(request))

    def compare(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.runner.run(self.client.compare(request))

    def submit(self, kind: str, request: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        return self.runner.run(self.client.submit(kind, request, idempotency_key))

    def job(self, job_id: str) -> dict[str, Any]:
        return self.runner.run(self.client.job(job_id))

    def jobs(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        return self.runner.run(self.client.jobs(status, limit))

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self.runner.run(self.client.cancel(job_id))

    def execute(
        self, kind: str, request: dict[str, Any], on_event: Callable[[Event], None] | None = None
    ) -> dict[str, Any]:
        return self.runner.run(self.client.execute(kind, request, on_event))


# Requests from files -------------------------------------------------------------------------------


def read_text(path: Path) -> str:
    """The file's text; `RequestProblem` naming it when it is missing, a folder or not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RequestProblem(f"no such file: {path}") from None
    except IsADirectoryError:
        raise RequestProblem(f"{path} is a directory, not a file") from None
    except UnicodeDecodeError:
        raise RequestProblem(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise RequestProblem(f"cannot read {path}: {exc.strerror}") from None


def language_of(paths: Iterable[Path]) -> str:
    """The language of the first path whose extension names one."""
    paths = list(paths)
    for path in paths:
        if path.suffix.lower() in EXTENSIONS:
            return EXTENSIONS[path.suffix.lower()]
    raise RequestProblem(f"cannot tell the language of {paths[0]} from its extension: name it (--language)")


def imports(tests: str, path: Path) -> bool:
    """Whether the tests import the module that `path` is by its file name."""
    pattern = IMPORTS.get(path.suffix.lower())
    return pattern is not None and re.search(pattern.format(m=re.escape(path.stem)), tests, re.MULTILINE) is not None


def solution_file_for(tests: str, solutions: Sequence[Path]) -> str | None:
    """The file name the tests need the solution under: the first solution's own name that the tests
    import (so `from fib import fib` gets fib.py; in a comparison every solution takes that name);
    None, the language's default, when they import none of them by name."""
    return next((path.name for path in solutions if imports(tests, path)), None)


def extra_files(paths: Iterable[Path]) -> list[dict[str, str]]:
    return [{"name": path.name, "content": read_text(path)} for path in paths]


def submission(solution: Path, tests: Path, files: Iterable[Path] = (), language: str | None = None) -> dict[str, Any]:
    """The body of `/validate` (and, with `runs`/`warmup`, of `/run`) from files."""
    test_text = read_text(tests)
    body: dict[str, Any] = {
        "language": language or language_of([solution, tests]),
        "solution": read_text(solution),
        "tests": test_text,
        "files": extra_files(files),
    }
    name = solution_file_for(test_text, [solution])
    return {**body, **({"solutionFile": name} if name else {})}


def entrant_names(paths: Sequence[Path]) -> list[str]:
    """Unique names of the compared solutions: their file names, else their paths made plain."""
    names = [path.name for path in paths]
    if len(set(names)) == len(names) and all(re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", n) for n in names):
        return names
    plain = [re.sub(r"[^A-Za-z0-9_.-]+", "_", str(path)).strip("_")[-60:] or "solution" for path in paths]
    return [name if plain.count(name) == 1 else f"{name}-{index}" for index, name in enumerate(plain, 1)]


def comparison(
    solutions: Sequence[Path], tests: Path, files: Iterable[Path] = (), language: str | None = None
) -> dict[str, Any]:
    """The body of `/compare` from files: each solution named after its file."""
    test_text = read_text(tests)
    name = solution_file_for(test_text, solutions)
    entrants = [
        {"name": entrant, "solution": read_text(path), **({"solutionFile": name} if name else {})}
        for entrant, path in zip(entrant_names(solutions), solutions)
    ]
    return {
        "language": language or language_of([*solutions, tests]),
        "tests": test_text,
        "files": extra_files(files),
        "solutions": entrants,
    }
