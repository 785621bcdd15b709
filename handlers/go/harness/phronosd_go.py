"""Go runner: one test binary per submission, built by `go test -c` (so go vet's default checks run as
in `go test`), validated through test2json, then timed in-process by a generated test in the same binary.

Build cache: compiling the standard library from scratch takes ~30 s, so the image carries a cache
pre-built with exactly the environment below (`prebuild_cache`). Each container gets a private,
writable cache in /tmp made of symlinks to the image's read-only entries: nothing is shared between
submissions and nothing is copied (the cache is >100 MB).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time

from phronosd_harness import Job, child_env, exit_description, exit_status, measure, trim

HARNESS_DIR = os.path.dirname(os.path.abspath(__file__))
IMAGE_CACHE = "/opt/phronosd/gocache"
TEST_FUNCS = "/opt/phronosd/bin/testfuncs"
TEST2JSON = "/usr/lib/go-1.24/pkg/tool/linux_amd64/test2json"
GO_VERSION = "1.24"
DEFAULT_MODULE = "solution"
BUILD_DIR = "/tmp/phronosd"
TEST_BINARY = BUILD_DIR + "/solution.test"
# No DWARF and no symbol table: linking is ~100 ms faster; panics still show file:line.
LINK_FLAGS = "-ldflags=-s -w"
MEASURE_FILE = "zz_phronosd_measure_test.go"
MEASURE_TEST = "Test__phronosd_measure"
GO_TEST_VERDICT = re.compile(r"^(FAIL|ok)(\t|$)")
FRAMING = re.compile(r"^\s*(=== (RUN|PAUSE|CONT|NAME)|--- (PASS|FAIL|SKIP):)")
# test2json reads the results from the binary's stdout, which the tests can print to; the exit status
# is the testing package's own verdict: a run it failed stays failed whatever framing was printed.
UNSHOWN_FAILURE = {
    "name": "(test binary)",
    "status": "failed",
    "durationMs": None,
    "message": "the test binary exited with status 1 (a test failed) but its output shows no failing test "
    "(printed test framing is not trusted)",
}


def go_env(cache):
    """The toolchain's environment: offline, no toolchain switching, no cgo. The pre-built cache is
    only hit when this is identical at image build and at run time."""
    return child_env(
        GOCACHE=cache,
        GOTOOLCHAIN="local",
        GOPROXY="off",
        GOFLAGS="",
        CGO_ENABLED="0",
        GOPATH="/tmp/gopath",
    )


def ensure_go_mod(work_dir):
    path = os.path.join(work_dir, "go.mod")
    if not os.path.exists(path):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(f"module {DEFAULT_MODULE}\n\ngo {GO_VERSION}\n")


def module_path(work_dir):
    with open(os.path.join(work_dir, "go.mod"), encoding="utf-8") as handle:
        match = re.search(r'^\s*module\s+"?([^"\s]+)', handle.read(), re.M)
    return match.group(1) if match else DEFAULT_MODULE


def link_cache(cache):
    """A writable cache of symlinks to the image's entries; trim.txt is fresh so that `go` does not
    trim (delete) the old-looking links."""
    for root, _dirs, files in os.walk(IMAGE_CACHE):
        target = os.path.join(cache, os.path.relpath(root, IMAGE_CACHE))
        os.makedirs(target, exist_ok=True)
        for name in files:
            if name != "trim.txt":
                os.symlink(os.path.join(root, name), os.path.join(target, name))
    with open(os.path.join(cache, "trim.txt"), "w", encoding="ascii") as handle:
        handle.write(str(int(time.time())))


def test_functions(work_dir):
    """[{"package": name, "tests": [TestX, ...]}, ...] for the *_test.go files that parse."""
    out = subprocess.run([TEST_FUNCS], cwd=work_dir, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def write_measure_file(work_dir, packages):
    """Generate the measuring test in the test package. With both an in-package and a `_test`
    package, it goes into the `_test` package and reaches the other one's tests through an import."""
    packages = [p for p in packages if p["tests"]]
    if not packages:
        return
    host = next((p for p in packages if p["package"].endswith("_test")), packages[0])
    imports, entries = "", []
    for pkg in packages:
        prefix = ""
        if pkg is not host:
            imports, prefix = f'\tphronosdpkg "{module_path(work_dir)}"\n', "phronosdpkg."
        entries += [f'\t{{"{name}", {prefix}{name}}},\n' for name in pkg["tests"]]
    with open(os.path.join(HARNESS_DIR, "measure_test.go.tmpl"), encoding="utf-8") as handle:
        template = handle.read()
    source = (
        template.replace("{{PACKAGE}}", host["package"]).replace("{{IMPORTS}}", imports).replace("{{TESTS}}", "".join(entries))
    )
    with open(os.path.join(work_dir, MEASURE_FILE), "w", encoding="utf-8") as handle:
        handle.write(source)


def build_test_binary(work_dir, env):
    """`go test -c`; returns the compiler / vet output when it fails, else None."""
    os.makedirs(BUILD_DIR, exist_ok=True)
    proc = subprocess.run(
        ["go", "test", "-c", "-o", TEST_BINARY, LINK_FLAGS, "."],
        cwd=work_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    if proc.returncode == 0:
        return None
    lines = (proc.stderr + proc.stdout).splitlines()
    message = "\n".join(line for line in lines if not GO_TEST_VERDICT.match(line))
    return trim(message) or f"go test -c failed ({exit_description(proc.returncode)})"


class GoTest:
    """One test (top-level or subtest) as test2json saw it."""

    def __init__(self, name, parent):
        self.name, self.parent = name, parent
        self.children, self.output = [], []
        self.action, self.elapsed = None, None

    def is_leaf(self):
        return not self.children

    def own_message(self):
        """The test's own lines (logs, failures, panics), without the run / result framing."""
        lines = [line.lstrip(" ") for line in "".join(self.output).splitlines() if not FRAMING.match(line)]
        return "\n".join(line for line in lines if line.strip()) or None

    def failed_beyond_children(self):
        """A parent counts as a test of its own when it failed and no subtest explains it, or when it
        printed lines itself (t.Error, t.Fatal, a panic). A parent that only t.Log-ged while one of its
        subtests failed is counted too: the output cannot tell a log line from an error line."""
        if self.action not in ("fail", None):
            return False
        children_failed = any(child.action in ("fail", None) for child in self.children)
        return not children_failed or self.own_message() is not None


class Validation:
    """Collects test2json events into tests, in the order they started."""

    def __init__(self):
        self.tests, self.order = {}, []
        self.package_action = None

    def add(self, event):
        name, action = event.get("Test"), event.get("Action")
        if action == "output":
            sys.stdout.write(event.get("Output", ""))
        if not name:
            if action in ("pass", "fail", "skip"):
                self.package_action = action
            return
        test = self.tests.get(name)
        if test is None:
            test = self.tests[name] = GoTest(name, self.parent_of(name))
            self.order.append(test)
            if test.parent:
                test.parent.children.append(test)
        if action == "output":
            test.output.append(event.get("Output", ""))
        elif action in ("pass", "fail", "skip"):
            test.action, test.elapsed = action, event.get("Elapsed", 0.0)

    def parent_of(self, name):
        """The deepest known test whose name prefixes this one (subtest names may contain '/')."""
        head = name
        while "/" in head:
            head = head.rsplit("/", 1)[0]
            if head in self.tests:
                return self.tests[head]
        return None

    def counted(self):
        return [t for t in self.order if t.is_leaf() or t.failed_beyond_children()]

    def finished(self, returncode):
        """The suite ran to its end: the binary exited normally, no test was left running (os.Exit
        inside a test, a panic, log.Fatal all leave one) and it printed its verdict, if it ran any
        test (a TestMain that never calls m.Run prints none)."""
        return (
            returncode in (0, 1)
            and (self.package_action is not None or not self.order)
            and all(test.action is not None for test in self.order)
        )


def test_event(test, finished):
    status = {"pass": "passed", "fail": "failed", "skip": "skipped"}.get(test.action, "failed")
    message = test.own_message() if status != "passed" else None
    if test.action is None:
        ended = "the test binary exited" if finished else "the test binary stopped"
        message = f"{message}\n({ended} before this test finished)" if message else f"({ended} before this test finished)"
    duration = round(test.elapsed * 1000, 3) if test.elapsed is not None else None
    return {"name": test.name, "status": status, "durationMs": duration, "message": trim(message) if message else None}


def validate(work_dir, package):
    """Run the test binary once (without the measuring test), piped through test2json."""
    validation = Validation()
    binary = subprocess.Popen(
        [TEST_BINARY, "-test.v=test2json", "-test.paniconexit0", "-test.timeout=0", f"-test.skip=^{MEASURE_TEST}$"],
        cwd=work_dir,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    converter = subprocess.Popen(
        [TEST2JSON, "-p", package], stdin=binary.stdout, stdout=subprocess.PIPE, env=child_env(), text=True
    )
    binary.stdout.close()
    for line in converter.stdout:
        try:
            validation.add(json.loads(line))
        except ValueError:
            sys.stdout.write(line)
    converter.wait()
    return validation, binary.wait()


def top_level_measured(validation):
    """Top-level tests with at least one leaf that ran (entirely skipped tests are not timed)."""
    names = []
    for test in validation.order:
        if test.parent is None and test.name.startswith("Test") and any_passed(test):
            names.append(test.name)
    return names


def any_passed(test):
    if test.is_leaf():
        return test.action == "pass"
    return any(any_passed(child) for child in test.children)


def all_passed_or_skipped(events):
    statuses = {e["status"] for e in events}
    return "passed" in statuses and statuses <= {"passed", "skipped"}


def main():
    job = Job(os.environ)
    work_dir = os.getcwd()
    job.reporter.emit("phase", name="compile")
    ensure_go_mod(work_dir)
    env = go_env("/tmp/gocache")
    link_cache(env["GOCACHE"])
    packages = test_functions(work_dir)
    write_measure_file(work_dir, packages)
    error = build_test_binary(work_dir, env)
    if error:
        job.reporter.emit("compile_error", message=error)
        return 0
    job.reporter.emit("phase", name="validate")
    validation, returncode = validate(work_dir, module_path(work_dir))
    finished = validation.finished(returncode)
    events = [test_event(test, finished) for test in validation.counted()]
    if finished and returncode == 1 and not any(e["status"] == "failed" for e in events):
        events.append(UNSHOWN_FAILURE)
    for event in events:
        job.reporter.emit("test", **event)
    if not finished:
        return exit_status(returncode)
    job.reporter.emit("validated")
    if job.mode == "run" and all_passed_or_skipped(events):
        command = [TEST_BINARY, f"-test.run=^{MEASURE_TEST}$", "-test.paniconexit0", "-test.timeout=0"]
        measure(job, [(command, {name: name for name in top_level_measured(validation)})])
    return 0


def prebuild_cache(warmup_dir):
    """Image build: fill IMAGE_CACHE with the standard library and a small test binary (its test
    main, the measuring test, vet), built exactly as `main` builds."""
    work_dir = "/tmp/phronosd-prebuild"
    shutil.copytree(warmup_dir, work_dir)
    env = go_env(IMAGE_CACHE)
    subprocess.run(["go", "build", "std"], cwd=work_dir, env=env, check=True)
    ensure_go_mod(work_dir)
    write_measure_file(work_dir, test_functions(work_dir))
    error = build_test_binary(work_dir, env)
    if error:
        raise SystemExit(error)
    shutil.rmtree(work_dir)
    shutil.rmtree(BUILD_DIR)
