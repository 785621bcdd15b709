"""Rust runner: `cargo test --release --no-run` builds every test target once; phronosd's test runner
(runner.rs, the crate `phronosd_runner` compiled when the image was built), linked into every test
binary as its custom test runner, runs the tests (validate) and times them in-process (measure),
reporting over a `PrivateChannel` each time.

The runner is wired in without moving the user's lines: an inner attribute is put in front of line 1
of every test target's root (`#![cfg_attr(test, feature(custom_test_frameworks), test_runner(...))]`),
the crate comes in through `--extern`, and `include!` of the unit tests and, for the integration
tests, `use <library>::*;` are appended. The unstable feature needs RUSTC_BOOTSTRAP, given for those
crates only. (Compiled into each test crate instead, the runner cost about 2 s of CPU per crate.)

Nothing of the submission may run before the runner has taken its channel, nor replace it: build
scripts, procedural macros and cargo configuration are refused, and every linked test binary is
checked (its `.preinit_array` holds only the runner's entry, no indirect functions, no function of the
C library, the clock included, defined by the binary). Before each start, every process left in the
container is killed and the binary is checked to be the one that was built.
"""

import glob
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile

import crates
from phronosd_elf import DT_PREINIT_ARRAY, DT_PREINIT_ARRAYSZ, SHT_DYNSYM, Elf, ElfError
from phronosd_harness import (
    Job,
    PrivateChannel,
    Reporter,
    child_env,
    exit_description,
    exit_status,
    kill_strays,
    measure,
    trim,
    wait_for_job,
)

RUNNER_CRATE = "/opt/phronosd/harness/libphronosd_runner.rlib"
# The name the test crates know the runner by, new for every request: the code under test cannot
# name the crate, so it cannot call `run` with tests of its own making.
RUNNER_ALIAS = "phronosd_runner_" + secrets.token_hex(8)
RUNNER_ATTRIBUTE = f"#![cfg_attr(test, feature(custom_test_frameworks), test_runner({RUNNER_ALIAS}::run))] "
TEST_ATTRIBUTE = re.compile(r"#\[\s*(test|cfg\s*\(\s*test\s*\))\s*\]")
PREINIT_SYMBOL = "phronosd_take_channel"
CLOCK_FUNCTIONS = {
    "clock_gettime",
    "clock_gettime64",
    "__clock_gettime",
    "__clock_gettime64",
    "gettimeofday",
    "__gettimeofday",
}
LIBC_PATHS = ("/lib/*-linux-gnu/libc.so.6", "/usr/lib/*-linux-gnu/libc.so.6")
UNFINISHED = "the test binary stopped before this test finished ({how})"
PREBUILT = crates.prebuilt()


class Refused(Exception):
    """A test binary must not start (it changed since it was built, or processes could not be stopped)."""


def scratch_dir(name):
    """A folder of this harness's scratch space, `$TMPDIR` (a compare job gives each solution its own)."""
    return os.path.join(tempfile.gettempdir(), name)


def cargo_env(test_crates=(), externs=None):
    """Offline, everything writable under $TMPDIR, a release profile tuned for compile time and keeping the
    symbol table (the checks read it), phronosd's runner crate, the prebuilt crates `externs` ({name in
    code: rlib}), and unstable features for the test crates only."""
    return child_env(
        RUSTFLAGS=f"--extern {RUNNER_ALIAS}={RUNNER_CRATE}" + crates.rustc_flags(externs or {}),
        CARGO_HOME=scratch_dir("cargo"),
        CARGO_TARGET_DIR=scratch_dir("target"),
        CARGO_NET_OFFLINE="true",
        CARGO_TERM_COLOR="never",
        CARGO_INCREMENTAL="0",
        CARGO_PROFILE_RELEASE_LTO="false",
        CARGO_PROFILE_RELEASE_DEBUG="0",
        CARGO_PROFILE_RELEASE_STRIP="debuginfo",
        # One codegen unit: ~25 % faster than 16 for a small crate on one CPU (and no slower code).
        CARGO_PROFILE_RELEASE_CODEGEN_UNITS="1",
        **({"RUSTC_BOOTSTRAP": ",".join(sorted(test_crates))} if test_crates else {}),
    )


class Manifest:
    """What `cargo metadata` says about the package: the library's crate name and the root file of
    every target cargo test builds, with its crate name, and the library crate names of every package."""

    def __init__(self, metadata, work_dir):
        members = set(metadata["workspace_members"])
        root_manifest = os.path.join(work_dir, "Cargo.toml")
        self.roots, self.lib_name, self.lib_root, self.refused = {}, None, None, []
        self.lib_names = set()
        for package in metadata["packages"]:
            for target in package["targets"]:
                self.take(package, target, package["id"] in members, package["manifest_path"] == root_manifest)

    def take(self, package, target, member, root):
        kinds = set(target["kind"])
        if kinds & {"custom-build", "proc-macro"}:
            what = "a build script" if "custom-build" in kinds else "a procedural macro crate"
            self.refused.append(f"{package['name']} has {what} ({target['name']})")
        if member and target.get("test") and "custom-build" not in kinds:
            self.roots[os.path.realpath(target["src_path"])] = target["name"].replace("-", "_")
        if kinds & {"lib", "rlib", "dylib", "cdylib", "staticlib"}:
            self.lib_names.add(target["name"].replace("-", "_"))
        if root and kinds & {"lib", "rlib", "dylib", "cdylib", "staticlib"}:
            self.lib_name = target["name"].replace("-", "_")
            self.lib_root = os.path.realpath(target["src_path"])


def read_manifest(work_dir):
    """(Manifest, None) or (None, why the package cannot be built here)."""
    if glob.glob(os.path.join(work_dir, ".cargo", "config*")):
        return None, "a .cargo/config file is not supported: the build is phronosd's (remove it from files)"
    proc = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--offline"],
        cwd=work_dir,
        env=cargo_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return None, trim(cargo_errors(proc.stderr)) or f"cargo metadata failed ({exit_description(proc.returncode)})"
    manifest = Manifest(json.loads(proc.stdout), work_dir)
    if manifest.refused:
        return None, "code that runs at build time is not supported: " + "; ".join(manifest.refused)
    return manifest, None


def edit(path, prefix="", suffix=""):
    source = read(path)
    bom = "\ufeff" if source.startswith("\ufeff") else ""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(bom + prefix + source[len(bom) :] + suffix)


def wire_runner(work_dir, job, manifest):
    """Put the custom test runner into every test target, the unit tests into the library and
    `use <library>::*;` into the integration test file."""
    test_path = os.path.realpath(os.path.join(work_dir, job.test_file))
    for root in manifest.roots:
        suffix = ""
        if job.options.get("unitTests") and root == manifest.lib_root:
            suffix = f'\n#[cfg(test)] include!("{os.path.relpath(test_path, os.path.dirname(root))}");\n'
        if not job.options.get("unitTests") and root == test_path and manifest.lib_name:
            suffix = f"\n#[allow(unused_imports)] use {manifest.lib_name}::*;\n"
        edit(root, RUNNER_ATTRIBUTE, suffix)


class TestBinary:
    """One test target's executable, as cargo reported it, and the digest of what was checked."""

    def __init__(self, artifact, work_dir):
        target = artifact["target"]
        self.target = target["name"]
        self.kind = "lib" if "lib" in target["kind"] else target["kind"][0]
        self.source = os.path.relpath(target["src_path"], work_dir)
        self.executable = artifact["executable"]
        self.digest = None

    def label(self):
        """How cargo test names the binary it runs."""
        return f"unittests {self.source}" if self.kind in ("lib", "bin") else self.source

    def check(self, libc_functions):
        """Why this binary must not run (None if it may); remembers the digest of what was checked."""
        with open(self.executable, "rb") as handle:
            data = handle.read()
        self.digest = hashlib.sha256(data).digest()
        try:
            problem = startup_problem(Elf(data), libc_functions)
        except ElfError as exc:
            problem = f"it cannot be read ({exc})"
        return f"{self.source}: {problem}" if problem else None

    def unchanged(self):
        with open(self.executable, "rb") as handle:
            return hashlib.sha256(handle.read()).digest() == self.digest


def startup_problem(elf, libc_functions):
    """Code of the submission that would run before phronosd's runner takes its channel, or would
    replace a C library function (the clock the runner reads, the calls it makes)."""
    return preinit_problem(elf) or indirect_function_problem(elf) or interposed_problem(elf, libc_functions)


def preinit_problem(elf):
    ours = [s.value for s in elf.symbols() if s.defined and s.name == PREINIT_SYMBOL]
    if len(ours) != 1:
        return "it was not built with phronosd's test runner (no symbol table, stripped, or `harness = false`)"
    section = elf.section(".preinit_array")
    dynamic = elf.dynamic()
    entries = elf.pointers(section) if section else []
    declared = (dynamic.get(DT_PREINIT_ARRAY), dynamic.get(DT_PREINIT_ARRAYSZ))
    if entries != ours or (dynamic and declared != (section.addr, section.size)):
        return ".preinit_array holds code of the submission: nothing may run before phronosd's test runner"
    return None


def indirect_function_problem(elf):
    if elf.has_indirect_functions():
        return "it defines indirect functions (IFUNC), whose resolvers run before phronosd's test runner"
    return None


def interposed_problem(elf, libc_functions):
    defined = {s.name.removeprefix("__wrap_") for s in elf.symbols() if s.defined and s.is_code}
    replaced = sorted(defined & (libc_functions | CLOCK_FUNCTIONS))
    if not replaced:
        return None
    names = ", ".join(f"`{name}`" for name in replaced)
    return (
        f"it defines {names} of the C library: code that replaces the clock or other C library functions is not allowed"
    )


def libc_functions():
    """The function names the C library exports (an empty set if it cannot be found)."""
    for path in (found for pattern in LIBC_PATHS for found in glob.glob(pattern)):
        with open(path, "rb") as handle:
            return {s.name for s in Elf(handle.read()).symbols(SHT_DYNSYM) if s.defined and s.is_code}
    return set()


def test_targets(work_dir, job):
    """Cargo's target selection. With the generated Cargo.toml, only targets that can hold tests are
    built: the library's test binary costs a second compilation of the library, so it is skipped
    when neither the solution nor the unit tests have a test in it. Doc-tests are never selected."""
    if not job.options.get("generatedCargoToml"):
        return ["--tests"]
    targets = []
    if job.options.get("unitTests") or TEST_ATTRIBUTE.search(read(os.path.join(work_dir, job.solution_file))):
        targets.append("--lib")
    if glob.glob(os.path.join(work_dir, "tests", "*.rs")):
        targets += ["--test", "*"]
    return targets or ["--tests"]


def build(work_dir, targets, test_crates, externs):
    """`cargo test --release --no-run`: (test binaries, None) or (None, the compiler's errors)."""
    proc = subprocess.run(
        ["cargo", "test", "--release", *targets, "--no-run", "--message-format=json"],
        cwd=work_dir,
        env=cargo_env(test_crates, externs),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    messages = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    diagnostics = {"error": [], "warning": []}
    for message in messages:
        if message.get("reason") == "compiler-message":
            level = "error" if message["message"]["level"].startswith("error") else "warning"
            diagnostics[level].append(message["message"]["rendered"])
    if proc.returncode != 0:
        errors = "".join(diagnostics["error"]) + cargo_errors(proc.stderr)
        return None, trim(errors) or f"cargo failed ({exit_description(proc.returncode)})"
    sys.stderr.write("".join(diagnostics["warning"]))
    return [TestBinary(m, work_dir) for m in messages if is_test_executable(m)], None


def is_test_executable(message):
    return message.get("reason") == "compiler-artifact" and message["profile"]["test"] and message.get("executable")


def cargo_errors(stderr):
    """Cargo's own errors (manifest, offline resolution); its progress lines are left out."""
    progress = ("Compiling ", "Finished ", "Executable ", "Locking ", "Updating ", "Blocking ")
    return "".join(line for line in stderr.splitlines(True) if not line.lstrip().startswith(progress))


def provided_dependencies(work_dir, job):
    """{name in code: prebuilt crate} of the dependencies taken out of the request's Cargo.toml
    (crates.take_provided), said in a note."""
    if job.options.get("generatedCargoToml"):
        return {}
    provided = crates.take_provided(os.path.join(work_dir, "Cargo.toml"), PREBUILT)
    if provided:
        served = ", ".join(f"{crate} {PREBUILT[crate]['version']}" for crate in sorted(set(provided.values())))
        job.reporter.emit(
            "note", message=f"Cargo.toml: its dependencies on {served} are the crates built into the image"
        )
    return provided


def extern_crates(manifest, provided):
    """{name in code: rlib}: the prebuilt crates, but none named like a crate of the package graph (its
    own would be a second candidate), and those serving Cargo.toml's dependencies under their names."""
    externs = {name: crate["file"] for name, crate in PREBUILT.items() if name not in manifest.lib_names}
    externs.update({name: PREBUILT[crate]["file"] for name, crate in provided.items()})
    return externs


def compile_tests(work_dir, job, functions):
    """(checked test binaries, None) or (None, the compile_error message). `functions`: what the C
    library exports (`libc_functions`)."""
    provided = provided_dependencies(work_dir, job)
    manifest, error = read_manifest(work_dir)
    if error:
        return None, error
    targets = test_targets(work_dir, job)
    wire_runner(work_dir, job, manifest)
    binaries, error = build(work_dir, targets, set(manifest.roots.values()), extern_crates(manifest, provided))
    if error:
        return None, error
    problems = [problem for problem in (binary.check(functions) for binary in binaries) if problem]
    return (None, "\n".join(problems)) if problems else (binaries, None)


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def ensure_runnable(binary):
    """Right before `binary` starts: nothing else of the submission runs, and the file is the one that
    was checked (a test of an earlier binary could have replaced it)."""
    if not kill_strays():
        raise Refused("processes started by the tests could not be stopped")
    if not binary.unchanged():
        raise Refused(f"{binary.source}: the test binary was changed after it was built")


class ValidationRun:
    """The runner's authenticated records for one binary, turned into test results."""

    def __init__(self, binary):
        self.binary = binary
        self.results, self.order = {}, []
        self.running = None
        self.finished = self.out_of_memory = False
        self.returncode = None

    def take(self, record):
        if "started" in record:
            self.running = str(record["started"])
            self.add(self.running, {"status": "failed", "durationMs": None, "message": None})
        elif "test" in record:
            name = str(record["test"])
            self.add(name, {key: record.get(key) for key in ("status", "durationMs", "message")})
            self.running = None if name == self.running else self.running
        elif "outOfMemory" in record:
            self.out_of_memory = True
        elif record.get("end") is True:
            self.finished = True

    def add(self, name, result):
        if name not in self.results:
            self.order.append(name)
        self.results[name] = result

    def close(self, returncode):
        """The binary exited: the test it was running, if any, failed."""
        self.returncode = returncode
        if self.running is not None:
            self.results[self.running]["message"] = UNFINISHED.format(how=exit_description(returncode))


def run_binary(binary, work_dir):
    """Validate one test binary; its output goes to the harness's, its results come over the channel."""
    run = ValidationRun(binary)
    sys.stdout.write(f"\n     Running {binary.label()}\n")
    sys.stdout.flush()
    channel = PrivateChannel()
    proc = subprocess.Popen(
        [binary.executable],
        cwd=work_dir,
        env=child_env(**channel.env()),
        stdin=subprocess.DEVNULL,
        pass_fds=channel.child_fds(),
    )
    channel.spawned()
    records = channel.records()
    for record in records:
        run.take(record)
        if run.finished:
            break
    records.close()
    run.close(proc.wait())
    return run


def reported_names(runs):
    """{(binary, name in the binary): name to report}; a name found in two targets is prefixed with its target."""
    seen = {}
    for run in runs:
        for name in run.order:
            seen[name] = seen.get(name, 0) + 1
    return {
        (id(run), name): name if seen[name] == 1 else f"{run.binary.target}::{name}"
        for run in runs
        for name in run.order
    }


def validate(job, binaries, work_dir):
    """Run every binary until one does not finish (or may not start); report the tests. Returns the
    runs and the names reported."""
    runs = []
    for binary in binaries:
        try:
            ensure_runnable(binary)
        except Refused as exc:
            job.reporter.emit("note", message=str(exc))
            break
        run = run_binary(binary, work_dir)
        runs.append(run)
        if run.out_of_memory:
            job.reporter.emit("memory_limit", message=f"{binary.source}: a memory allocation failed")
        if not run.finished:
            break
    names = reported_names(runs)
    for run in runs:
        for name in run.order:
            job.reporter.emit("test", name=names[(id(run), name)], **run.results[name])
    return runs, names


def measure_passed(job, runs, names, step_fd):
    """Time every test that passed, binary by binary; in a compare job (`step_fd`), one binary only."""
    by_executable = {run.binary.executable: run.binary for run in runs}
    samplers = [
        (
            [run.binary.executable],
            {name: names[(id(run), name)] for name in run.order if run.results[name]["status"] == "passed"},
        )
        for run in runs
        if any(result["status"] == "passed" for result in run.results.values())
    ]
    if step_fd is not None and len(samplers) > 1:
        job.reporter.emit(
            "note", message=f"not measured: a compare job times one test binary, this package has {len(samplers)}"
        )
        return
    try:
        measure(job, samplers, before_run=lambda command: ensure_runnable(by_executable[command[0]]), step_fd=step_fd)
    except Refused as exc:
        job.reporter.emit("note", message=f"not measured: {exc}")


def main():
    """A pooled harness (README: the warm pool) reads the C library's exports before its job arrives;
    a compilation made then would not shorten the job's (measured: the first `cargo test --no-run` of
    a container takes as long as later ones)."""
    reporter = Reporter.from_env(os.environ)
    functions = libc_functions()
    wait_for_job(reporter, os.environ)
    job = Job(os.environ, reporter)
    work_dir = os.getcwd()
    job.reporter.emit("phase", name="compile")
    binaries, error = compile_tests(work_dir, job, functions)
    if error:
        job.reporter.emit("compile_error", message=error)
        return 0
    job.reporter.emit("phase", name="validate")
    runs, names = validate(job, binaries, work_dir)
    kill_strays()  # what the tests left running would keep the output pipes open
    if len(runs) < len(binaries) or not all(run.finished for run in runs):
        return exit_status(runs[-1].returncode) if runs and not runs[-1].finished else 1
    job.reporter.emit("validated", tests=sum(len(run.order) for run in runs))
    statuses = {result["status"] for run in runs for result in run.results.values()}
    if job.mode == "run" and "passed" in statuses and statuses <= {"passed", "skipped"}:
        step_fd = os.environ.get("PHRONOSD_STEP_FD")
        measure_passed(job, runs, names, None if step_fd is None else int(step_fd))
    return 0
