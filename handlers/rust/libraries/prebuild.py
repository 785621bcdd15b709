"""Build the curated crates once, when the image is built (`python3 prebuild.py <folder> <package>...`).

Each Debian package (`librust-<crate>-dev`, the build argument PHRONOSD_LIBRARIES) holds a crate's
sources under /usr/share/cargo/registry. A throwaway package that depends on every one of them is
built offline with `cargo build --release` (that registry as a directory source replacing crates.io);
its build scripts and procedural macros run here, never when a solution is compiled. What is kept in
<folder>: the rlibs (and procedural macro libraries) of the crates and of their dependencies, and
`externs.json`, {crate name in code: {"file": its rlib (a procedural macro's: its .so), "version":
v}}, from which the harness makes `--extern` arguments.
Without packages, `externs.json` is `{}` and nothing is built.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib

REGISTRY = "/usr/share/cargo/registry"
EXTERNS = "externs.json"
# Features beyond the defaults: `#[derive(Serialize, Deserialize)]`, `Rc`/`Arc` fields, `SmallRng`.
FEATURES = {"serde": ["derive", "rc"], "rand": ["small_rng"]}
KEPT = (".rlib", ".so")


def crate_manifest(package):
    """The Cargo.toml of the crate a Debian package installs."""
    files = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=True).stdout.split()
    pattern = re.compile(re.escape(REGISTRY) + r"/[^/]+/Cargo\.toml")
    manifests = [path for path in files if pattern.fullmatch(path)]
    if len(manifests) != 1:
        sys.exit(f"{package}: expected one crate under {REGISTRY}, found {manifests}")
    return manifests[0]


def crate_version(manifest):
    """(name, version) of the crate of a Cargo.toml."""
    with open(manifest, "rb") as handle:
        package = tomllib.load(handle)["package"]
    return package["name"], package["version"]


def dependency_line(name, version):
    """The throwaway package's dependency on that exact crate version."""
    features = json.dumps(FEATURES.get(name, []))
    return f'{json.dumps(name)} = {{ version = "={version}", features = {features} }}\n'


def write_package(folder, crates):
    with open(os.path.join(folder, "Cargo.toml"), "w", encoding="utf-8") as handle:
        handle.write('[package]\nname = "phronosd-crates"\nversion = "0.0.0"\nedition = "2021"\n')
        handle.write('[lib]\npath = "lib.rs"\n[dependencies]\n')
        handle.writelines(dependency_line(*crate) for crate in crates.values())
    open(os.path.join(folder, "lib.rs"), "w", encoding="utf-8").close()


def cargo_build(folder):
    """The compiler's artifact messages; the profile is the harness's (harness/phronosd_rust.py)."""
    env = dict(
        os.environ,
        CARGO_HOME=os.path.join(folder, "home"),
        CARGO_TARGET_DIR=os.path.join(folder, "target"),
        CARGO_PROFILE_RELEASE_LTO="false",
        CARGO_PROFILE_RELEASE_DEBUG="0",
        CARGO_PROFILE_RELEASE_CODEGEN_UNITS="1",
        CARGO_INCREMENTAL="0",
    )
    command = ["cargo", "build", "--release", "--offline", "--message-format=json"]
    command += ["--config", 'source.crates-io.replace-with="debian"']
    command += ["--config", f"source.debian.directory={json.dumps(REGISTRY)}"]
    proc = subprocess.run(command, cwd=folder, env=env, stdout=subprocess.PIPE, text=True, check=True)
    messages = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return [m for m in messages if m.get("reason") == "compiler-artifact"]


def keep_libraries(artifacts, crates, out_dir):
    """Copy every built library to `out_dir`; {crate name in code: {"file", "version"}} of `crates`
    ({Cargo.toml: (name, version)})."""
    externs = {}
    for artifact in artifacts:
        libraries = [path for path in artifact["filenames"] if path.endswith(KEPT)]
        for path in libraries:
            shutil.copy2(path, out_dir)
        if artifact["manifest_path"] in crates and libraries:
            library = os.path.join(out_dir, os.path.basename(libraries[0]))
            externs[artifact["target"]["name"]] = {"file": library, "version": crates[artifact["manifest_path"]][1]}
    missing = set(crates) - {artifact["manifest_path"] for artifact in artifacts}
    if missing:
        sys.exit(f"not built: {sorted(missing)}")
    return externs


def main(out_dir, packages):
    os.makedirs(out_dir, exist_ok=True)
    externs = {}
    if packages:
        crates = {manifest: crate_version(manifest) for manifest in map(crate_manifest, packages)}
        with tempfile.TemporaryDirectory() as folder:
            write_package(folder, crates)
            externs = keep_libraries(cargo_build(folder), crates, out_dir)
    with open(os.path.join(out_dir, EXTERNS), "w", encoding="utf-8") as handle:
        json.dump(externs, handle, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
