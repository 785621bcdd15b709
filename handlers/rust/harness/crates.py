"""The curated crates built with the image (`/opt/phronosd/crates`, made by libraries/prebuild.py) and
what a request's own Cargo.toml may say about them.

Every test crate gets them through `--extern` (rustc loads a crate only when the code names it, so
an unused one costs nothing). A Cargo.toml that depends on one of them from crates.io (no `path`,
`git` or `workspace`) could not be resolved offline: the build copy of the manifest loses those
entries and the crate comes through `--extern` under the dependency's name, with a note saying which
version serves it."""

import json
import math
import os
import tomllib

CRATES_DIR = "/opt/phronosd/crates"
EXTERNS_FILE = os.path.join(CRATES_DIR, "externs.json")
DEPENDENCY_TABLES = ("dependencies", "dev-dependencies")
NOT_FROM_THE_REGISTRY = ("path", "git", "workspace")


def prebuilt():
    """{crate name in code: {"file": rlib or .so, "version": v}}; empty in an image built without them."""
    try:
        with open(EXTERNS_FILE, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {}


def rustc_flags(externs):
    """`--extern name=rlib` for {name in code: rlib}, and where their own dependencies are."""
    if not externs:
        return ""
    return f" -L dependency={CRATES_DIR}" + "".join(
        f" --extern {name}={rlib}" for name, rlib in sorted(externs.items())
    )


def take_provided(cargo_toml, crates):
    """Remove from the file `cargo_toml` the registry dependencies the image provides; returns
    {name in code: crate name} of those removed (the file is left as it is when there are none, or
    when it is not valid TOML: cargo's error then says why)."""
    try:
        with open(cargo_toml, "rb") as handle:
            manifest = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    taken = {}
    for table in (manifest.get(name) for name in DEPENDENCY_TABLES):
        if isinstance(table, dict):
            taken.update(take_from(table, crates))
    if taken:
        with open(cargo_toml, "w", encoding="utf-8") as handle:
            handle.write(toml_document(manifest))
    return taken


def take_from(table, crates):
    taken = {}
    for key, spec in list(table.items()):
        if isinstance(spec, dict) and any(field in spec for field in NOT_FROM_THE_REGISTRY):
            continue
        crate = str(spec.get("package", key) if isinstance(spec, dict) else key).replace("-", "_")
        if crate in crates:
            taken[key.replace("-", "_")] = crate
            del table[key]
    return taken


def toml_document(document):
    """TOML for what tomllib read, every table inline (comments and layout are not kept)."""
    return "".join(f"{toml_string(key)} = {toml_value(value)}\n" for key, value in document.items())


def toml_string(text):
    """A basic string: JSON's escapes are TOML's, but DEL must be escaped too and astral characters not."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return value.isoformat()
