"""Language handlers: the daemon-side half of each `handlers/<lang>/` folder.

A language folder holds `handler.py` (a module defining `HANDLER`, an instance of `Language` or a
subclass), the runner image's `Dockerfile` and the harness that runs inside the container. The
registry finds every folder that has a `handler.py` and a `Dockerfile`; nothing about a language lives elsewhere.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import PurePosixPath
from types import MappingProxyType

from .errors import BadRequest

SHARED_DIR = "_shared"
# A default warm-up that the harness chooses by the adaptive rule of handlers/README.md.
ADAPTIVE_WARMUP = "auto"


@dataclass(frozen=True)
class Submission:
    """What the client sent, already schema-checked: code and file names."""

    solution: str
    tests: str
    solution_file: str | None = None
    test_file: str | None = None
    files: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Layout:
    """The files to write in the container's work dir, and which of them are the solution and tests."""

    files: Mapping[str, str]
    solution_file: str
    test_file: str
    options: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Language:
    """Declarative description of one language. Subclasses override `file_names` (and `options`)
    when names depend on the code, or `layout` when the files themselves need care."""

    name: str
    aliases: tuple[str, ...]
    runtime: str  # display names; their versions come from the image (`version_packages`)
    framework: str
    solution_file: str
    test_file: str
    default_warmup: int | str  # untimed runs, or ADAPTIVE_WARMUP (JIT runtimes)
    conventions: str
    # Limits of this language's containers; the server's settings cap them (`Limits.for_language`).
    work_tmpfs_mb: int = 64
    tmp_tmpfs_mb: int = 64
    memory_mb: int | None = None  # default memory when the request names none (None: the server's)
    pids: int | None = None  # process/thread limit (None: the server's pids_limit)
    compile_timeout_ms: int = 30_000  # compilation or collection, before the request's timeoutMs starts
    # File names that configure the test framework: the tests' side may ship them (`files`), a
    # solution may not (`solutionFile`), so a solution cannot reconfigure the framework that judges it.
    framework_config_files: tuple[str, ...] = ()
    # What `/api/languages` reports a version of ("runtime", "framework", a library's name) -> the
    # Debian package whose installed version says it. `phronosd images build` reads the versions
    # from the image's dpkg database and stores them as image labels.
    version_packages: Mapping[str, str] = field(default_factory=dict)
    # Libraries installed in the image for solutions to use (handlers/README.md: libraries): the name
    # a solution knows one by -> its Debian package, which the image build installs (the build
    # argument PHRONOSD_LIBRARIES) unless the setting image_libraries is false.
    libraries: Mapping[str, str] = field(default_factory=dict)
    # What the harness supports beyond validate and run (handlers/README.md): the warm pool's
    # pre-loaded start, and a compare job's stepped, interleaved runs.
    poolable: bool = False
    comparable: bool = False
    # A compare job's processes per solution (its blocks: the replicates of `stats.compare_runs`).
    # More where a runtime's processes differ in speed from one to the next (handlers/README.md:
    # Compare jobs); each costs a validation and a warm-up per solution.
    compare_processes: int = 6
    env: Mapping[str, str] = field(default_factory=dict)

    def layout(self, submission: Submission) -> Layout:
        """Place the solution, tests and extra files; reject collisions."""
        solution_file, test_file = self.file_names(submission)
        self.refuse_framework_config(solution_file)
        files = place_files([(solution_file, submission.solution), (test_file, submission.tests), *submission.files])
        return Layout(
            files=files,
            solution_file=solution_file,
            test_file=test_file,
            options=self.options(files, solution_file, test_file),
        )

    def file_names(self, submission: Submission) -> tuple[str, str]:
        """(solution, tests) file names: the request's, else the language's defaults."""
        return submission.solution_file or self.solution_file, submission.test_file or self.test_file

    def refuse_framework_config(self, file_name: str, path: str = "$.solutionFile") -> None:
        """A solution's own file (at JSON `path`) may not configure the test framework that judges it."""
        name = PurePosixPath(file_name).name
        if name in self.framework_config_files:
            raise BadRequest(
                "request.file_name",
                f"{name} configures {self.framework}: only the tests may provide it (in files)",
                [{"path": path, "problem": "a test framework configuration file"}],
            )

    def options(self, files: Mapping[str, str], solution_file: str, test_file: str) -> dict[str, object]:
        """Handler-specific facts for the harness (`PHRONOSD_OPTIONS`)."""
        return {}

    def describe(self, installed: Mapping[str, str]) -> dict[str, object]:
        """What `/api/languages` says of this language; `installed`: package -> version in its image."""
        versions = {what: upstream_version(installed.get(package)) for what, package in self.version_packages.items()}
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "runtime": with_version(self.runtime, versions.get("runtime")),
            "framework": with_version(self.framework, versions.get("framework")),
            "versions": versions,
            "solutionFile": self.solution_file,
            "testFile": self.test_file,
            "defaultWarmup": self.default_warmup,
            "conventions": self.conventions,
            "limits": {
                "memoryMb": self.memory_mb,
                "pids": self.pids,
                "compileTimeoutMs": self.compile_timeout_ms,
                "workTmpfsMb": self.work_tmpfs_mb,
                "tmpTmpfsMb": self.tmp_tmpfs_mb,
            },
            "frameworkConfigFiles": list(self.framework_config_files),
            "libraries": [
                {"name": name, "version": upstream_version(installed[package]), "package": package}
                for name, package in sorted(self.libraries.items())
                if installed.get(package)
            ],
            "features": {"warmPool": self.poolable, "compare": self.comparable},
        }


def upstream_version(debian_version: str | None) -> str | None:
    """The upstream part of a Debian version, None if unknown: `1:2.3.4+dfsg-1~bpo1` -> `2.3.4`; a
    snapshot keeps its date, `0.0~git20231006.7918f67-1` -> `0.0~git20231006.7918f67`."""
    if not debian_version:
        return None
    upstream = debian_version.split(":", 1)[-1].rsplit("-", 1)[0]
    return re.split(r"[+]|~(?!git)", upstream, maxsplit=1)[0]


def with_version(display: str, version: str | None) -> str:
    return f"{display} {version}" if version else display


SAFE_NAME = re.compile(r"[A-Za-z0-9_.@+][A-Za-z0-9_.@+ -]*")  # fullmatch; no leading dash: never an option


def check_file_name(name: str) -> str:
    """Return a normalised relative path, or raise `BadRequest` for anything that could escape /work."""
    path = PurePosixPath(name)
    parts = path.parts
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or not parts
        or any(part in ("..", ".") for part in name.split("/"))
        or any(not SAFE_NAME.fullmatch(part) for part in parts)
        or len(parts) > 8
    ):
        raise BadRequest("request.file_name", f"invalid file name {name[:100]!r}: use a relative path of plain names")
    return str(path)


def place_files(entries: list[tuple[str, str]]) -> MappingProxyType:
    """Map checked names to contents; a name used twice, or a file used as a directory, is rejected."""
    files: dict[str, str] = {}
    for name, content in entries:
        clean = check_file_name(name)
        if clean in files:
            raise BadRequest("request.file_collision", f"file name {clean!r} is used twice")
        files[clean] = content
    names = set(files)
    for name in names:
        for parent in PurePosixPath(name).parents:
            if str(parent) in names:
                raise BadRequest("request.file_collision", f"{str(parent)!r} is both a file and a directory")
    return MappingProxyType(files)


def handlers_root() -> Traversable:
    return resources.files("phronosd.handlers")


def load_handler(folder: Traversable) -> Language:
    """Import `handler.py` of one language folder and return its `HANDLER`."""
    source = folder / "handler.py"
    spec = importlib.util.spec_from_file_location(f"phronosd.handlers.{folder.name}.handler", str(source))
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {source}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler = getattr(module, "HANDLER", None)
    if not isinstance(handler, Language):
        raise RuntimeError(f"{source} does not define HANDLER = Language(...)")
    if handler.name != folder.name:
        raise RuntimeError(f"{source}: HANDLER.name {handler.name!r} differs from its folder")
    return handler


class Registry:
    """All languages, looked up by name or alias."""

    def __init__(self, languages: list[Language]):
        self.languages = {lang.name: lang for lang in sorted(languages, key=lambda lang: lang.name)}
        self.by_alias: dict[str, Language] = {}
        for lang in self.languages.values():
            for key in (lang.name, *lang.aliases):
                if key.lower() in self.by_alias:
                    raise RuntimeError(f"language alias {key!r} is claimed twice")
                self.by_alias[key.lower()] = lang

    @classmethod
    def discover(cls) -> Registry:
        root = handlers_root()
        folders = [
            d for d in root.iterdir() if d.is_dir() and (d / "handler.py").is_file() and (d / "Dockerfile").is_file()
        ]
        return cls([load_handler(folder) for folder in folders])

    def names_and_aliases(self) -> list[str]:
        return sorted(self.by_alias)

    def get(self, name: str) -> Language:
        lang = self.by_alias.get(name.lower())
        if lang is None:
            raise BadRequest(
                "request.language",
                f"unknown language {name[:50]!r}; known: {', '.join(self.languages)}",
            )
        return lang
