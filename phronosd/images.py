"""Runner images: content-hashed tags, building from `handlers/<lang>/`, and the Debian base image.

The tag of a language's image is a hash of its build context (the language folder, without the
daemon-side `handler.py` and `example/`, plus `handlers/_shared/`), so a changed harness is a new
tag: a stale image is never used, it is simply not "ready".
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path

from .docker import DockerCli
from .languages import SHARED_DIR, Language, handlers_root

BASE_IMAGE = "debian:trixie-slim"
BASE_SUITE = "trixie"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
APT_SOURCES = Path("/etc/apt")
LANGUAGE_LABEL = "phronosd.language"
VERSION_LABEL = "phronosd.version."  # + Debian package name: the version installed in the image
NOT_IN_CONTEXT = {"handler.py", "example", "__pycache__"}


def context_files(language: str) -> Iterator[tuple[str, Traversable]]:
    """(archive name, file) pairs of a language's build context, in a stable order: the language
    folder, the files of `_shared/`, and those folders of `_shared/` that its Dockerfile names."""

    def walk(folder: Traversable, prefix: str) -> Iterator[tuple[str, Traversable]]:
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name in NOT_IN_CONTEXT:
                continue
            name = f"{prefix}/{entry.name}"
            if entry.is_dir():
                yield from walk(entry, name)
            else:
                yield name, entry

    root = handlers_root()
    yield from walk(root / language, language)
    dockerfile = (root / language / "Dockerfile").read_text(encoding="utf-8")
    for entry in sorted((root / SHARED_DIR).iterdir(), key=lambda e: e.name):
        name = f"{SHARED_DIR}/{entry.name}"
        if not entry.is_dir():
            yield name, entry
        elif name in dockerfile:
            yield from walk(entry, name)


def is_executable(entry: Traversable) -> bool:
    try:
        return bool(Path(str(entry)).stat().st_mode & 0o111)
    except OSError:
        return False


def library_packages(language: Language, with_libraries: bool) -> str:
    """The build argument `PHRONOSD_LIBRARIES`: the Debian packages of the language's libraries, space
    separated; empty for an image without them (setting `image_libraries = false`)."""
    return " ".join(sorted(set(language.libraries.values()))) if with_libraries else ""


def build_context(language: str, libraries: str = "") -> tuple[bytes, str]:
    """The tar archive streamed to `docker build -`, and its hash: the content's and the libraries'
    (an image without them is another tag)."""
    digest = hashlib.sha256(f"PHRONOSD_LIBRARIES={libraries}\0".encode() if libraries else b"")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, entry in context_files(language):
            data = entry.read_bytes()
            mode = 0o755 if is_executable(entry) else 0o644
            digest.update(f"{name}\0{mode:o}\0{len(data)}\0".encode())
            digest.update(data)
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue(), digest.hexdigest()[:12]


@dataclass(frozen=True)
class ImageInfo:
    language: str
    tag: str
    ready: bool
    size: str | None = None


class Images:
    """Which runner images exist; tags are computed once per daemon (the handlers do not change)."""

    def __init__(self, docker: DockerCli, prefix: str, languages: list[Language], with_libraries: bool = True):
        self.docker = docker
        self.libraries = {lang.name: library_packages(lang, with_libraries) for lang in languages}
        self.tags = {
            lang.name: f"{prefix}{lang.name}:{build_context(lang.name, self.libraries[lang.name])[1]}"
            for lang in languages
        }
        self.present: set[str] = set()
        self.sizes: dict[str, str] = {}
        self.labels: dict[str, dict[str, str]] = {}
        self._refreshing: asyncio.Future | None = None

    def tag(self, language: str) -> str:
        return self.tags[language]

    def ready(self, language: str) -> bool:
        return self.tags[language] in self.present

    async def refresh(self) -> None:
        """One `docker images` call; concurrent callers share it."""
        if self._refreshing is None:
            self._refreshing = asyncio.ensure_future(self._list())
        future = self._refreshing
        try:
            await asyncio.shield(future)
        finally:
            if self._refreshing is future and future.done():
                self._refreshing = None

    async def _list(self) -> None:
        out = await self.docker.check(["images", "--filter", f"label={LANGUAGE_LABEL}", "--format", "{{json .}}"])
        present, sizes = set(), {}
        for line in out.splitlines():
            row = json.loads(line)
            tag = f"{row['Repository']}:{row['Tag']}"
            present.add(tag)
            sizes[tag] = row.get("Size")
        current = sorted(present & set(self.tags.values()))
        labels = {}
        if current:
            inspected = await self.docker.check(["image", "inspect", "--format", "{{json .Config.Labels}}", *current])
            labels = {tag: json.loads(line) or {} for tag, line in zip(current, inspected.splitlines())}
        self.present, self.sizes, self.labels = present, sizes, labels

    def versions(self, language: str) -> dict[str, str]:
        """Debian package -> version installed in the language's current image (empty if not built)."""
        labels = self.labels.get(self.tags[language], {})
        return {k[len(VERSION_LABEL) :]: v for k, v in labels.items() if k.startswith(VERSION_LABEL)}

    def stale(self) -> list[str]:
        """Built images of these languages' repositories whose tag is not the current one: what an
        earlier version of the handlers built, which no request of this version can use."""
        repositories = {tag.rsplit(":", 1)[0] for tag in self.tags.values()}
        current = set(self.tags.values())
        return sorted(t for t in self.present if t.rsplit(":", 1)[0] in repositories and t not in current)

    def describe(self) -> list[ImageInfo]:
        return [
            ImageInfo(lang, tag, tag in self.present, self.sizes.get(tag)) for lang, tag in sorted(self.tags.items())
        ]


def host_debian_mirror(apt_dir: Path = APT_SOURCES) -> str:
    """The Debian mirror the host's apt sources name (deb822 or one-line format), security excluded."""
    candidates = sorted(apt_dir.glob("sources.list.d/*")) + [apt_dir / "sources.list"]
    for path in candidates:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for url in re.findall(r"(?:^URIs:|^deb(?:\s+\[[^\]]*\])?)\s+(\S+)", text, re.MULTILINE):
            if "/debian" in url and "security" not in url:
                return url
    return DEFAULT_MIRROR


class ImageBuilder:
    """`phronosd images build`: the base image (pulled, or made with debootstrap), then each runner."""

    def __init__(self, docker: DockerCli, images: Images, say: Callable[[str], None]):
        self.docker = docker
        self.images = images
        self.say = say

    async def ensure_base(self) -> None:
        if (await self.docker.run(["image", "inspect", BASE_IMAGE])).exit_code == 0:
            return
        self.say(f"base: pulling {BASE_IMAGE}")
        if (await self.docker.run(["pull", BASE_IMAGE], timeout=600)).exit_code == 0:
            return
        mirror = host_debian_mirror()
        self.say(f"base: {BASE_IMAGE} cannot be pulled; creating it with debootstrap from {mirror}")
        await bootstrap_base(self.docker, mirror)
        self.say(f"base: {BASE_IMAGE} imported")

    async def build(self, lang: Language) -> bool:
        language = lang.name
        tag = self.images.tag(language)
        if self.images.ready(language):
            self.say(f"{language}: {tag} is up to date")
            return True
        libraries = self.images.libraries[language]
        context, _ = build_context(language, libraries)
        self.say(f"{language}: building {tag} ..." + ("" if libraries else " (without libraries)"))
        result = await self.docker.run(
            [
                "build",
                "-t",
                tag,
                "--label",
                f"{LANGUAGE_LABEL}={language}",
                "--build-arg",
                f"PHRONOSD_LIBRARIES={libraries}",
                "-f",
                f"{language}/Dockerfile",
                "-",
            ],
            stdin=context,
            timeout=3600,
            stdout_limit=16 << 20,
            stderr_limit=1 << 20,
        )
        if result.exit_code != 0:
            tail = (result.stdout + result.stderr).decode("utf-8", "replace").splitlines()[-30:]
            self.say(f"{language}: build FAILED\n" + "\n".join(tail))
            return False
        if not await self.label_versions(lang, tag):
            return False
        self.say(f"{language}: built {tag} in {result.duration_s:.0f} s")
        return True

    async def label_versions(self, language: Language, tag: str) -> bool:
        """Read the versions of the language's packages (`Language.version_packages`, its libraries) from the built
        image's dpkg database and add them as labels (a label-only image under the same tag), so
        `/api/languages` reports what is installed, not what someone typed."""
        packages = sorted(set(language.version_packages.values()) | set(self.images.libraries[language.name].split()))
        if not packages:
            return True
        query = await self.docker.run(
            [
                "run",
                "--rm",
                "--network",
                "none",
                "--user",
                "65534:65534",
                "--entrypoint",
                "dpkg-query",
                tag,
                "-W",
                "-f",
                "${Package}\\t${Version}\\n",
                *packages,
            ],
            timeout=120,
        )
        found = dict(line.split("\t", 1) for line in query.stdout.decode().splitlines() if "\t" in line)
        missing = [p for p in packages if not found.get(p)]
        if query.exit_code != 0 or missing:
            self.say(f"{language.name}: build FAILED: packages not installed in the image: {', '.join(missing) or '?'}")
            return False
        labels = [arg for p in packages for arg in ("--label", f"{VERSION_LABEL}{p}={found[p]}")]
        result = await self.docker.run(
            ["build", "-t", tag, "--label", f"{LANGUAGE_LABEL}={language.name}", *labels, "-"],
            stdin=f"FROM {tag}\n".encode(),
            timeout=300,
        )
        if result.exit_code != 0:
            self.say(f"{language.name}: labelling FAILED: {result.stderr.decode('utf-8', 'replace')[-300:]}")
        return result.exit_code == 0


async def bootstrap_base(docker: DockerCli, mirror: str) -> None:
    """debootstrap a minimal trixie and `docker import` it as the base image (air-gapped hosts)."""
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is not installed: apt-get install debootstrap")
    with tempfile.TemporaryDirectory(prefix="phronosd-rootfs-") as root:
        proc = await asyncio.create_subprocess_exec(
            "debootstrap",
            "--variant=minbase",
            BASE_SUITE,
            root,
            mirror,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"debootstrap failed: {err.decode(errors='replace')[-500:]}")
        tar = await asyncio.create_subprocess_exec(
            "tar",
            "-C",
            root,
            "-c",
            ".",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        archive, _ = await tar.communicate()
        result = await docker.run(["import", "-", BASE_IMAGE], stdin=archive, timeout=600)
        if result.exit_code != 0:
            raise RuntimeError(f"docker import failed: {result.stderr.decode(errors='replace')[-300:]}")
