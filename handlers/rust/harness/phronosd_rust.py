"""Rust runner: `cargo test --release --no-run` builds every test target once; each test binary is then
run with libtest's JSON output (validate) and, through phronosd's custom test runner compiled into the
same binary, timed in-process (measure).

The runner (runner.rs) is wired in without moving the user's lines: an inner attribute is put in front
of line 1 (`#![cfg_attr(test, feature(custom_test_frameworks, test), test_runner(...))]`) and a `mod`
pointing at runner.rs is appended, as is `include!` of the unit tests and, for integration tests,
`use solution::*;`. Unstable features need RUSTC_BOOTSTRAP=1, for rustc and for libtest's JSON output.
"""

import glob
import json
import os
import re
import subprocess
import sys

from phronosd_harness import Job, child_env, exit_description, exit_status, measure, trim

RUNNER = "/opt/phronosd/harness/runner.rs"
RUNNER_ATTRIBUTE = "#![cfg_attr(test, feature(custom_test_frameworks, test), test_runner(crate::__phronosd_runner::run))] "
RUNNER_MOD = f'\n#[cfg(test)] #[path = "{RUNNER}"] mod __phronosd_runner;\n'
TARGET_DIR = "/tmp/target"
TEST_ATTRIBUTE = re.compile(r"#\[\s*(test|cfg\s*\(\s*test\s*\))\s*\]")
ALLOC_FAILED = "memory allocation of"


def cargo_env():
    """Offline, everything writable in /tmp, and a release profile tuned for compile time."""
    return child_env(
        CARGO_HOME="/tmp/cargo",
        CARGO_TARGET_DIR=TARGET_DIR,
        CARGO_NET_OFFLINE="true",
        CARGO_TERM_COLOR="never",
        CARGO_INCREMENTAL="0",
        CARGO_PROFILE_RELEASE_LTO="false",
        CARGO_PROFILE_RELEASE_DEBUG="0",
        # One codegen unit: ~25 % faster than 16 for a small crate on one CPU (and no slower code).
        CARGO_PROFILE_RELEASE_CODEGEN_UNITS="1",
        RUSTC_BOOTSTRAP="1",
    )


def edit(path, prefix="", suffix=""):
    source = read(path)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(prefix + source + suffix)


def wire_runner(work_dir, job):
    """Put the custom test runner into the library and, for integration tests, the test crate."""
    lib_suffix = RUNNER_MOD
    test_path = os.path.join(work_dir, job.test_file)
    if job.options.get("unitTests"):
        lib_dir = os.path.dirname(os.path.join(work_dir, job.solution_file))
        lib_suffix += f'#[cfg(test)] include!("{os.path.relpath(test_path, lib_dir)}");\n'
    else:
        edit(test_path, RUNNER_ATTRIBUTE, RUNNER_MOD + "#[allow(unused_imports)] use solution::*;\n")
    edit(os.path.join(work_dir, job.solution_file), RUNNER_ATTRIBUTE, lib_suffix)


class TestBinary:
    """One test target's executable, as cargo reported it."""

    def __init__(self, artifact):
        target = artifact["target"]
        self.target = target["name"]
        self.kind = "lib" if "lib" in target["kind"] else target["kind"][0]
        self.executable = artifact["executable"]


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


def build(work_dir, targets):
    """`cargo test --release --no-run`: (test binaries, None) or (None, the compiler's errors)."""
    proc = subprocess.run(
        ["cargo", "test", "--release", *targets, "--no-run", "--message-format=json"],
        cwd=work_dir,
        env=cargo_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
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
    return [TestBinary(m) for m in messages if is_test_executable(m)], None


def is_test_executable(message):
    return message.get("reason") == "compiler-artifact" and message["profile"]["test"] and message.get("executable")


def cargo_errors(stderr):
    """Cargo's own errors (manifest, offline resolution); its progress lines are left out."""
    progress = ("Compiling ", "Finished ", "Executable ", "Locking ", "Updating ", "Blocking ")
    return "".join(line for line in stderr.splitlines(True) if not line.lstrip().startswith(progress))


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


class LibtestRun:
    """libtest's JSON events of one binary, turned into test results in the order tests started."""

    def __init__(self, binary):
        self.binary = binary
        self.results, self.order = {}, []
        self.suite_done = False
        self.out_of_memory = False
        self.returncode = None

    def add(self, event):
        kind, name = event.get("type"), event.get("name")
        if kind == "suite" and event.get("event") in ("ok", "failed"):
            self.suite_done = True
        if kind != "test" or name is None:
            return
        if name not in self.results:
            self.order.append(name)
            self.results[name] = {"status": "failed", "durationMs": None, "message": None}
        result = self.results[name]
        status = {"ok": "passed", "failed": "failed", "ignored": "skipped"}.get(event.get("event"))
        if status:
            result["status"] = status
            result["durationMs"] = round(event.get("exec_time", 0.0) * 1000, 3)
            result["message"] = failure_message(event) if status != "passed" else None
            self.print_line(name, event)
        elif event.get("event") == "started":
            result["message"] = "(the test binary exited before this test finished)"

    def print_line(self, name, event):
        """The output a user knows from `cargo test`: one line per test, the failures' captured output."""
        sys.stdout.write(f"test {name} ... {event.get('event')}\n")
        if event.get("stdout") and event.get("event") == "failed":
            sys.stdout.write(event["stdout"] + "\n")


def failure_message(event):
    text = event.get("stdout") or event.get("message") or ""
    return trim(text) if text.strip() else None


def run_binary(binary, work_dir):
    """Validate one test binary; its stdout (libtest JSON) and stderr come back on private pipes."""
    run = LibtestRun(binary)
    proc = subprocess.Popen(
        [binary.executable, "-Z", "unstable-options", "--format", "json", "--report-time"],
        cwd=work_dir,
        env=child_env(RUSTC_BOOTSTRAP="1"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    for line in proc.stdout:
        try:
            run.add(json.loads(line))
        except ValueError:
            sys.stdout.write(line)
    stderr = proc.stderr.read()
    sys.stderr.write(stderr)
    run.out_of_memory = ALLOC_FAILED in stderr
    run.returncode = proc.wait()
    return run


def reported_names(runs):
    """{(binary, name in libtest): name to report}; a name found in two targets is prefixed with its target."""
    seen = {}
    for run in runs:
        for name in run.order:
            seen[name] = seen.get(name, 0) + 1
    return {
        (id(run), name): name if seen[name] == 1 else f"{run.binary.target}::{name}" for run in runs for name in run.order
    }


def main():
    job = Job(os.environ)
    work_dir = os.getcwd()
    job.reporter.emit("phase", name="compile")
    targets = test_targets(work_dir, job)
    wire_runner(work_dir, job)
    binaries, error = build(work_dir, targets)
    if error:
        job.reporter.emit("compile_error", message=error)
        return 0
    job.reporter.emit("phase", name="validate")
    runs = []
    for binary in binaries:
        run = run_binary(binary, work_dir)
        runs.append(run)
        if run.out_of_memory:
            job.reporter.emit("memory_limit", message=f"{binary.target}: a memory allocation failed")
        if not run.suite_done or run.returncode not in (0, 101):
            break
    names = reported_names(runs)
    for run in runs:
        for name in run.order:
            job.reporter.emit("test", name=names[(id(run), name)], **run.results[name])
    finished = len(runs) == len(binaries) and all(run.suite_done and run.returncode in (0, 101) for run in runs)
    if not finished:
        return exit_status(runs[-1].returncode)
    job.reporter.emit("validated")
    statuses = {result["status"] for run in runs for result in run.results.values()}
    if job.mode == "run" and "passed" in statuses and statuses <= {"passed", "skipped"}:
        samplers = [
            ([run.binary.executable], {name: names[(id(run), name)] for name in run.order if run.results[name]["status"] == "passed"})
            for run in runs
            if any(result["status"] == "passed" for result in run.results.values())
        ]
        measure(job, samplers)
    return 0
