"""The one settings object: built once from defaults, a TOML file, `.env`, the environment and CLI flags.

Priority rises in that order. Every setting has one name; it is spelled `name` in TOML,
`PHRONOSD_NAME` in the environment and `.env`, and `--name` (dashes) on the command line. Two legacy
variables of the original Node service are honoured: `PORT` and `FRONTEND_URL` (CORS origins).
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = Path("/etc/phronosd/phronosd.toml")
ENV_PREFIX = "PHRONOSD_"
LEGACY_ENV = {"PORT": "port", "FRONTEND_URL": "cors_origins"}
ROLES = ("all", "api", "worker")
QUEUE_SCHEMES = ("redis://", "rediss://", "unix://")
DEFAULT_RUNTIME = "runc"


class SettingsError(Exception):
    """A bad setting: start-up stops with this one line."""


def _number(cast: Callable[[str], Any], kind: str, low: float, high: float) -> Callable[[Any], Any]:
    """A parser for a number of type `cast` within [low, high]; booleans are not numbers."""
    problem = f"expected {kind} from {low} to {high}"

    def parse(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(problem)
        try:
            number = cast(str(value).strip())
        except ValueError:
            raise ValueError(problem) from None
        if not low <= number <= high:
            raise ValueError(problem)
        return number

    return parse


def _int(low: int, high: int) -> Callable[[Any], int]:
    return _number(int, "a whole number", low, high)


def _float(low: float, high: float) -> Callable[[Any], float]:
    return _number(float, "a number", low, high)


def _str(value: Any) -> str:
    if not isinstance(value, (str, int, float)):
        raise ValueError("expected a string")
    return str(value).strip()


def _optional_str(value: Any) -> str | None:
    text = _str(value)
    return text or None


def _octal(value: Any) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"0?o?[0-7]{3,4}", text):
        raise ValueError("expected permissions in octal, like 660")
    return int(text.replace("o", ""), 8)


def _bool(value: Any) -> bool:
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _list(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else str(value).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def _cores(value: Any) -> tuple[int, ...]:
    try:
        return tuple(sorted({int(item) for item in _list(value)}))
    except ValueError:
        raise ValueError("expected a list of CPU numbers, e.g. 3 or 2,3") from None


def _setting(default: Any, parse: Callable[[Any], Any], help: str) -> Any:
    return field(default=default, metadata={"parse": parse, "help": help})


@dataclass(frozen=True)
class Settings:
    host: str = _setting("127.0.0.1", _str, "TCP address to listen on")
    port: int = _setting(3001, _int(0, 65535), "TCP port to listen on")
    unix_socket: str | None = _setting(None, _optional_str, "listen on this Unix socket path instead of TCP")
    unix_socket_mode: int = _setting(0o660, _octal, "permissions of the Unix socket, in octal (660)")
    unix_socket_group: str | None = _setting(
        None, _optional_str, "group owning the Unix socket (e.g. www-data for nginx)"
    )
    trusted_proxies: tuple[str, ...] = _setting(
        (), _list, "proxy addresses or networks (or 'unix') whose X-Forwarded-For names the client in logs"
    )
    cors_origins: tuple[str, ...] = _setting((), _list, "origins allowed by CORS (comma-separated)")
    auth_tokens: tuple[str, ...] = _setting((), _list, "bearer tokens accepted on every endpoint but /health")
    auth_tokens_file: str | None = _setting(None, _optional_str, "file with one accepted bearer token per line")
    concurrency: int = _setting(5, _int(1, 256), "containers running at once")
    max_queued: int = _setting(50, _int(0, 10000), "requests waiting for a slot before 429")
    default_timeout_ms: int = _setting(30000, _int(100, 3600000), "timeout of a request that names none")
    max_timeout_ms: int = _setting(120000, _int(100, 3600000), "largest timeoutMs a request may ask")
    memory_mb: int = _setting(512, _int(64, 65536), "container memory (and memory+swap) of a request that names none")
    max_memory_mb: int = _setting(2048, _int(64, 65536), "largest memoryMb a request may ask")
    cpus: float = _setting(1.0, _float(0.1, 256), "CPU quota of a container that does not measure")
    measure_cpus: tuple[int, ...] = _setting(
        (), _cores, "cores reserved for timed phases, one measuring container each (default: a quarter, at least 1)"
    )
    measure_lane: bool = _setting(
        True, _bool, "measure on a reserved core; false: on the general cores under the CPU quota (for comparison)"
    )
    pids_limit: int = _setting(256, _int(16, 100000), "processes and threads per container")
    output_limit_bytes: int = _setting(1048576, _int(1024, 64 * 1048576), "captured output per stream")
    max_body_bytes: int = _setting(2097152, _int(1024, 256 * 1048576), "largest request body")
    body_timeout_s: float = _setting(
        30.0, _float(0.1, 3600), "time allowed to send a request body (slow clients get 408)"
    )
    idle_timeout_s: float = _setting(
        60.0,
        _float(0.1, 3600),
        "a connection with no complete request for this long (idle, or headers trickled) is closed",
    )
    default_runs: int = _setting(100, _int(1, 1000000), "timed runs of a request that names none")
    max_runs: int = _setting(1000, _int(1, 1000000), "most timed runs a request may ask")
    measure_budget_ms: int = _setting(60000, _int(100, 3600000), "wall-time budget of the measure phase")
    warm_pool: int = _setting(
        -1, _int(-1, 64), "validation containers kept started per language (0: off; -1: concurrency // 4, at least 1)"
    )
    warm_pool_languages: tuple[str, ...] = _setting((), _list, "languages the warm pool keeps ready (default: all)")
    pool_idle_s: float = _setting(
        600.0, _float(1, 86400), "a pooled container idle this long is replaced by a fresh one"
    )
    database: str = _setting(
        "", _str, "SQLite file of the jobs API (default: $XDG_STATE_HOME or ~/.local/state, phronosd/jobs.sqlite3)"
    )
    job_ttl_s: float = _setting(7 * 86400.0, _float(1, 365 * 86400), "finished jobs are deleted after this long")
    max_queued_jobs: int = _setting(10000, _int(1, 10_000_000), "jobs waiting to start before submissions get 429")
    max_batch_jobs: int = _setting(500, _int(1, 100000), "jobs in one POST /api/jobs/batch")
    queue_url: str = _setting(
        "",
        _str,
        "the jobs' queue: empty for the embedded SQLite one, or redis://[:password@]host:port/db (rediss://: TLS)",
    )
    role: str = _setting("all", _str, "all (API and worker), api (accepts jobs, runs none) or worker (needs queue_url)")
    lease_s: float = _setting(
        30.0, _float(1, 3600), "a cluster job whose worker stops renewing it runs again after this"
    )
    heartbeat_s: float = _setting(2.0, _float(0.1, 600), "how often a cluster worker announces itself (dead after 3)")
    webhook_allow: tuple[str, ...] = _setting(
        (), _list, "hosts and networks webhooks may call (names: public addresses only; nothing by default)"
    )
    webhook_timeout_s: float = _setting(10.0, _float(0.1, 300), "time allowed for one webhook delivery")
    webhook_retry_s: float = _setting(3600.0, _float(0, 7 * 86400), "how long a failing webhook is retried")
    docker_binary: str = _setting("docker", _str, "the docker CLI to run")
    runtime: str = _setting(
        DEFAULT_RUNTIME,
        _str,
        "container runtime the engine has registered (runsc: gVisor, a kernel of its own; README)",
    )
    runtime_languages: tuple[str, ...] = _setting(
        (), _list, "languages that run under `runtime` (default: all); the others run under runc"
    )
    image_prefix: str = _setting("phronosd-", _str, "prefix of runner image names")
    image_libraries: bool = _setting(
        True, _bool, "runner images include each language's curated libraries (false: the smallest images)"
    )
    shutdown_grace_s: float = _setting(30.0, _float(0, 3600), "how long shutdown waits for running requests")
    docker_probe_ttl_s: float = _setting(5.0, _float(0, 3600), "how long /health reuses a Docker probe")
    instance_name: str = _setting("default", _str, "label value of this daemon's containers (swept at start and stop)")
    log_level: str = _setting("info", _str, "debug, info, warning or error")
    log_format: str = _setting("text", _str, "text (key=value lines) or json (one object per line)")

    def __post_init__(self) -> None:
        if self.default_timeout_ms > self.max_timeout_ms:
            raise SettingsError("setting default_timeout_ms: larger than max_timeout_ms")
        if self.memory_mb > self.max_memory_mb:
            raise SettingsError("setting memory_mb: larger than max_memory_mb")
        if self.default_runs > self.max_runs:
            raise SettingsError("setting default_runs: larger than max_runs")
        if self.log_level not in ("debug", "info", "warning", "error"):
            raise SettingsError("setting log_level: expected debug, info, warning or error")
        if self.log_format not in ("text", "json"):
            raise SettingsError("setting log_format: expected text or json")
        if self.role not in ROLES:
            raise SettingsError("setting role: expected all, api or worker")
        if self.queue_url and not self.queue_url.startswith(QUEUE_SCHEMES):
            raise SettingsError("setting queue_url: expected redis://, rediss:// or unix:// (a Redis server)")
        if self.role != "all" and not self.queue_url:
            raise SettingsError(f"setting role: {self.role} needs a shared queue (setting queue_url)")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", self.runtime):
            raise SettingsError(f"setting runtime: {self.runtime[:60]!r} is not a runtime name, like runc or runsc")
        for proxy in self.trusted_proxies:
            if proxy != "unix":
                try:
                    ipaddress.ip_network(proxy, strict=False)
                except ValueError:
                    raise SettingsError(
                        f"setting trusted_proxies: {proxy!r} is not an address, a network or 'unix'"
                    ) from None

    def database_path(self) -> str:
        """`database`, or the user's state folder: never a path that depends on the working directory."""
        if self.database:
            return self.database
        state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return str(Path(state) / "phronosd" / "jobs.sqlite3")

    def pool_size(self) -> int:
        """Containers kept ready per language: `warm_pool`, or with -1 one per four execution slots."""
        return max(1, self.concurrency // 4) if self.warm_pool < 0 else self.warm_pool

    def runtime_for(self, language: str) -> str:
        """The container runtime of a language's containers: `runtime` if `runtime_languages` names it
        (or is empty), else runc."""
        chosen = not self.runtime_languages or language in (name.lower() for name in self.runtime_languages)
        return self.runtime if chosen else DEFAULT_RUNTIME

    def runtimes(self, languages: list[str]) -> set[str]:
        """The runtimes the containers of these languages run under."""
        return {self.runtime_for(language) for language in languages}

    def tokens(self) -> tuple[str, ...]:
        """The accepted bearer tokens: `auth_tokens` plus the lines of `auth_tokens_file`."""
        tokens = list(self.auth_tokens)
        if self.auth_tokens_file:
            try:
                lines = Path(self.auth_tokens_file).read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise SettingsError(f"setting auth_tokens_file: {exc.strerror}: {self.auth_tokens_file}") from None
            tokens += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        return tuple(tokens)


FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def add_arguments(parser: argparse.ArgumentParser, default: Any = None) -> None:
    """One `--flag` per setting, plus `--config`. A subcommand's parser gets them with
    `default=argparse.SUPPRESS`, so a flag given before the subcommand is not reset after it."""
    parser.add_argument("--config", default=default, help=f"TOML settings file (default {DEFAULT_CONFIG} when present)")
    for name, spec in FIELDS.items():
        parser.add_argument("--" + name.replace("_", "-"), dest=name, default=default, help=spec.metadata["help"])


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; `#` comments; optional `export ` and matching quotes. Nothing is expanded."""
    values = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            raise SettingsError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def from_environment(env: Mapping[str, str]) -> dict[str, str]:
    values = {}
    for legacy, name in LEGACY_ENV.items():
        if legacy in env:
            values[name] = env[legacy]
    for key, value in env.items():
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :].lower() in FIELDS:
            values[key[len(ENV_PREFIX) :].lower()] = value
    return values


def read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"config file {path}: {exc}") from None
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise SettingsError(f"config file {path}: unknown setting {unknown[0]!r}")
    return data


def load(
    cli: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Build the settings in rising priority: defaults, TOML, `.env`, environment, CLI flags."""
    cli = dict(cli or {})
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    config = cli.pop("config", None)
    raw: dict[str, Any] = {}
    path = Path(config) if config else DEFAULT_CONFIG
    if config or path.is_file():
        raw.update(read_toml(path))
    dotenv = cwd / ".env"
    if dotenv.is_file():
        raw.update(from_environment(read_dotenv(dotenv)))
    raw.update(from_environment(env))
    raw.update({k: v for k, v in cli.items() if v is not None and k in FIELDS})
    values = {}
    for name, value in raw.items():
        try:
            values[name] = FIELDS[name].metadata["parse"](value)
        except ValueError as exc:
            raise SettingsError(f"setting {name}: {exc}, got {str(value)[:60]!r}") from None
    return Settings(**values)
