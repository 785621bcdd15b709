"""Go runner: one test binary per submission, built by `go test -c` (so go vet's default checks run as
in `go test`), run once to validate and once more to measure.

What counts comes from phronosd's runner package (`runner/`), never from the binary's output: a
generated test file registers the suite's top-level tests, examples and fuzz targets with it, and the
harness selects only the generated `Test__phronosd` (and one generated fuzz target per fuzz target).
The runner runs the suite as `go test` would and writes each outcome, then an end marker, to a
`PrivateChannel`; the token that authenticates those lines is read by the runner's init, which Go
runs before any package of the submission (each one imports the runner). test2json, reading the
binary's stdout, only adds subtest names and messages; it can never turn a failed or unfinished
test into a passed one.

Build cache: compiling the standard library from scratch takes ~30 s, so the image carries a cache
pre-built with exactly the environment below (`prebuild_cache`). Each container gets a private,
writable cache in $TMPDIR made of symlinks to the image's read-only entries: nothing is shared between
submissions and nothing is copied (the cache is >100 MB).

Libraries: the Debian packages of the curated libraries put their sources under GOCODE. At image build
each of their modules is copied to LIBRARY_DIR with a go.mod of its own that requires nothing, and the
workspace of every build lists them (LIBRARIES_FILE): a submission imports them with no require, no
go.sum and no download, and the prebuilt cache holds them compiled and vetted.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

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

HARNESS_DIR = os.path.dirname(os.path.abspath(__file__))
IMAGE_CACHE = "/opt/phronosd/gocache"
INSPECT = "/opt/phronosd/bin/inspect"
TEST2JSON = "/opt/phronosd/bin/test2json"
TOOLCHAIN_FILE = "/opt/phronosd/go-toolchain.json"  # `go env -json GOVERSION`, at image build
GOCODE = "/usr/share/gocode/src"  # where Debian's golang-*-dev packages put their sources
LIBRARY_DIR = "/opt/phronosd/golibs"
LIBRARIES_FILE = "/opt/phronosd/go-libraries.json"  # {module path: its directory}, written at image build
LIBRARY_IMPORTS_FILE = "zz_phronosd_libraries_test.go"
WARMUP_PACKAGE = "warmup"  # the package clause of harness/warmup
IMPORTABLE = '{{if not (or .Error .DepsErrors (eq .Name "main"))}}{{.ImportPath}}{{end}}'  # a `go list -f`
RUNNER_DIR = os.path.join(HARNESS_DIR, "runner")
RUNNER_IMPORT = "phronosd.invalid/runner"
DEFAULT_MODULE = "solution"
SCRATCH = os.environ.get("TMPDIR") or "/tmp"  # this harness's own: a compare job runs several at once
BUILD_DIR = SCRATCH + "/phronosd"
GO_WORK = BUILD_DIR + "/go.work"
TEST_BINARY = BUILD_DIR + "/solution.test"
# No DWARF and no symbol table: linking is ~100 ms faster; panics still show file:line.
LINK_FLAGS = "-ldflags=-s -w"
DRIVER_FILE = "zz_phronosd_test.go"
FIRST_FILE = "zz_phronosd_runner.go"
DRIVER_TEST = "Test__phronosd"
FUZZ_WRAPPER = "Fuzz__phronosd_{}"
GO_TEST_VERDICT = re.compile(r"^(FAIL|ok)(\t|$)")
FRAMING = re.compile(r"^\s*(=== (RUN|PAUSE|CONT|NAME)|--- (PASS|FAIL|SKIP):)")
GO_DIRECTIVE = re.compile(r"^([ \t]*go[ \t]+)(\d+(?:\.\d+)*)\S*[ \t]*$", re.MULTILINE)
MODULE_DIRECTIVE = re.compile(r'^\s*module\s+"?([^"\s]+)', re.MULTILINE)
NOT_PROVIDED = re.compile(r"(no required module provides package \S+); to add it:(\n\tcd \S+)?\n\tgo get \S+")
TOOLCHAIN_DIRECTIVE = re.compile(r"^[ \t]*toolchain[ \t]+go(\d+(?:\.\d+)*)\S*[ \t]*\n?", re.MULTILINE)
ACTIONS = {"passed": "pass", "failed": "fail", "skipped": "skip"}


def installed_version():
    """The installed Go's version, e.g. "1.24.4"."""
    with open(TOOLCHAIN_FILE, encoding="utf-8") as handle:
        return json.load(handle)["GOVERSION"].removeprefix("go").split()[0]


def version_key(version):
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def go_env(cache):
    """The toolchain's environment: offline, no toolchain switching, no cgo, a workspace made of the
    submission's module and phronosd's runner. The pre-built cache is only hit when this is identical
    at image build and at run time."""
    return child_env(
        GOCACHE=cache,
        GOTOOLCHAIN="local",
        GOPROXY="off",
        GOFLAGS="",
        CGO_ENABLED="0",
        GOPATH=SCRATCH + "/gopath",
        GOWORK=GO_WORK,
    )


def fit_go_mod(work_dir):
    """Write the default go.mod, or lower a `go` line (and drop a `toolchain` line) asking for a newer
    Go than the installed one, which GOTOOLCHAIN=local would refuse. Returns a note for the user when
    it lowered anything, else None. Code that needs the newer language then fails with the compiler's
    own error."""
    path = os.path.join(work_dir, "go.mod")
    installed = installed_version()
    if not os.path.exists(path):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(f"module {DEFAULT_MODULE}\n\ngo {'.'.join(installed.split('.')[:2])}\n")
        return None
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    asked = [m.group(2) for m in GO_DIRECTIVE.finditer(text)] + [m.group(1) for m in TOOLCHAIN_DIRECTIVE.finditer(text)]
    newer = [v for v in asked if version_key(v) > version_key(installed)]
    if not newer:
        return None
    wanted = newer[0]
    text = TOOLCHAIN_DIRECTIVE.sub(
        lambda m: m.group(0) if version_key(m.group(1)) <= version_key(installed) else "", text
    )
    text = GO_DIRECTIVE.sub(
        lambda m: m.group(0) if version_key(m.group(2)) <= version_key(installed) else m.group(1) + installed, text
    )
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return f"go.mod asks for Go {wanted}; built with the installed Go {installed} (GOTOOLCHAIN=local), its go line lowered to {installed}"


def libraries():
    """The image's library modules: {module path: directory} (empty in an image without libraries)."""
    if not os.path.exists(LIBRARIES_FILE):
        return {}
    with open(LIBRARIES_FILE, encoding="utf-8") as handle:
        return json.load(handle)


def write_go_work(work_dir):
    """The workspace: the submission's module, phronosd's runner and the libraries (but one with the
    submission's own module path, which the workspace could not hold twice)."""
    own = module_path(work_dir)
    dirs = [work_dir, RUNNER_DIR, *(path for module, path in sorted(libraries().items()) if module != own)]
    os.makedirs(BUILD_DIR, exist_ok=True)
    with open(GO_WORK, "w", encoding="utf-8") as handle:
        handle.write(f"go {installed_version()}\n\nuse (\n" + "".join(f"\t{d}\n" for d in dirs) + ")\n")


def module_path(work_dir):
    with open(os.path.join(work_dir, "go.mod"), encoding="utf-8") as handle:
        match = MODULE_DIRECTIVE.search(handle.read())
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


def inspect(work_dir, env):
    """The submission as `inspect.go` sees it: {"suite", "packages", "refused"}."""
    out = subprocess.run([INSPECT], cwd=work_dir, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


class Suite:
    """The root package's test packages (`inspect`'s "suite"), in go test's order, and the generated
    driver that registers them: a top-level name is counted only if it is registered here."""

    def __init__(self, packages):
        self.packages = [p for p in packages if p["tests"] or p["examples"] or p["fuzz"]]
        self.tests = [name for p in self.packages for name in p["tests"]]
        self.examples = [e["name"] for p in self.packages for e in p["examples"]]
        self.fuzz = [name for p in self.packages for name in p["fuzz"]]
        self.wrappers = {FUZZ_WRAPPER.format(i): name for i, name in enumerate(self.fuzz)}

    def names(self):
        return set(self.tests) | set(self.examples) | set(self.fuzz)

    def host(self):
        """The package the driver goes into: the `_test` one if any (it can reach both)."""
        return next((p for p in self.packages if p["external"]), self.packages[0])

    def driver_source(self, work_dir):
        host, imports = self.host(), ""
        tests = examples = fuzz = ""
        for pkg in self.packages:
            prefix = ""
            if pkg is not host:
                imports, prefix = f'\tphronosdpkg "{module_path(work_dir)}"\n', "phronosdpkg."
            more_tests, more_examples, more_fuzz = registrations(pkg, prefix)
            tests, examples, fuzz = tests + more_tests, examples + more_examples, fuzz + more_fuzz
        wrappers = "".join(
            f"\nfunc {wrapper}(f *phronosdtesting.F) {{\n\tphronosdrunner.Fuzz(f, {i})\n}}\n"
            for i, wrapper in enumerate(self.wrappers)
        )
        with open(os.path.join(HARNESS_DIR, "driver_test.go.tmpl"), encoding="utf-8") as handle:
            source = handle.read()
        for key, value in (
            ("PACKAGE", host["name"]),
            ("IMPORTS", imports),
            ("TESTS", tests),
            ("EXAMPLES", examples),
            ("FUZZ", fuzz),
            ("FUZZ_WRAPPERS", wrappers),
        ):
            source = source.replace("{{" + key + "}}", value)
        return source

    def selection(self):
        """The -test.run pattern of the validation: the driver and the fuzz wrappers."""
        return "^(" + "|".join([DRIVER_TEST, *self.wrappers]) + ")$"


def registrations(pkg, prefix):
    """The Go literals that register one test package's tests, examples and fuzz targets."""
    tests = "".join(f'\t\t\t{{"{name}", {prefix}{name}}},\n' for name in pkg["tests"])
    examples = "".join(
        f'\t\t\t{{"{e["name"]}", {prefix}{e["name"]}, {e["output"]}, {str(e["unordered"]).lower()}}},\n'
        for e in pkg["examples"]
    )
    fuzz = "".join(f'\t\t\t{{"{name}", {prefix}{name}}},\n' for name in pkg["fuzz"])
    return tests, examples, fuzz


def write_generated_files(work_dir, inspected, suite):
    """The driver, an import of the runner in every package of the module (so that Go initialises
    the runner before any of them), and links that give each fuzz wrapper its target's corpus."""
    if suite.packages:
        with open(os.path.join(work_dir, DRIVER_FILE), "w", encoding="utf-8") as handle:
            handle.write(suite.driver_source(work_dir))
    for package in inspected["packages"]:
        with open(os.path.join(work_dir, package["dir"], FIRST_FILE), "w", encoding="utf-8") as handle:
            handle.write(
                f"// Code generated by phronosd. Not part of the submission.\n\npackage {package['name']}\n\n"
                f'import _ "{RUNNER_IMPORT}"\n'
            )
    for wrapper, target in suite.wrappers.items():
        corpus = os.path.join(work_dir, "testdata", "fuzz")
        if os.path.isdir(os.path.join(corpus, target)):
            os.symlink(target, os.path.join(corpus, wrapper))


def build(work_dir, env):
    """`go test -c`, vet included; returns the compiler / vet output when it fails, else None."""
    os.makedirs(BUILD_DIR, exist_ok=True)
    proc = subprocess.run(
        ["go", "test", "-c", "-o", TEST_BINARY, LINK_FLAGS, "."],
        cwd=work_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode == 0:
        return None
    lines = (proc.stderr + proc.stdout).splitlines()
    message = "\n".join(line for line in lines if not GO_TEST_VERDICT.match(line))
    message = NOT_PROVIDED.sub(
        r"\1: neither in the standard library nor among this image's libraries (nothing is downloaded)", message
    )
    return trim(message) or f"go test -c failed ({exit_description(proc.returncode)})"


class GoTest:
    """One test (top-level or subtest) as test2json saw it; a top-level test's action is then replaced
    by what the runner reported."""

    def __init__(self, name, parent):
        self.name, self.parent = name, parent
        self.children, self.output = [], []
        self.action, self.elapsed = None, None

    def is_leaf(self):
        return not self.children

    def descendants(self):
        for child in self.children:
            yield child
            yield from child.descendants()

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
    """Collects test2json events into tests, in the order they started; fuzz wrappers take their
    target's name."""

    def __init__(self, renames):
        self.tests, self.order = {}, []
        self.renames = renames

    def rename(self, name):
        head, sep, rest = name.partition("/")
        return self.renames.get(head, head) + sep + rest

    def show(self, event):
        """Forward the output to the user, without the driver's own framing."""
        text = event.get("Output", "")
        if event.get("Test") == DRIVER_TEST and FRAMING.match(text):
            return
        for wrapper, target in self.renames.items():
            text = text.replace(wrapper, target)
        sys.stdout.write(text)

    def add(self, event):
        name, action = event.get("Test"), event.get("Action")
        if action == "output":
            self.show(event)
        if not name:
            return
        test = self.node(self.rename(name))
        if action == "output":
            test.output.append(event.get("Output", ""))
        elif action in ("pass", "fail", "skip"):
            test.action, test.elapsed = action, event.get("Elapsed", 0.0)

    def node(self, name):
        test = self.tests.get(name)
        if test is None:
            test = self.tests[name] = GoTest(name, self.parent_of(name))
            self.order.append(test)
            if test.parent:
                test.parent.children.append(test)
        return test

    def parent_of(self, name):
        """The deepest known test whose name prefixes this one (subtest names may contain '/')."""
        head = name
        while "/" in head:
            head = head.rsplit("/", 1)[0]
            if head in self.tests:
                return self.tests[head]
        return None

    def authenticate(self, reported, registered):
        """Keep the top-level tests the suite registered, each with the status the runner reported
        (none: it never finished); one the output never showed (e.g. stdout closed) is added. Under a
        test reported passed, a subtest without a result line passed too (a failure would have
        failed its parent)."""
        for name in reported:
            self.node(name)
        kept = []
        for test in self.order:
            top = test
            while top.parent:
                top = top.parent
            if top.name in registered:
                kept.append(test)
        self.order = kept
        for test in self.order:
            if test.parent is None:
                status, ns = reported.get(test.name, (None, None))
                test.action, test.elapsed = ACTIONS.get(status), ns / 1e9 if ns is not None else None
                if test.action == "pass":
                    for child in test.descendants():
                        child.action = child.action or "pass"

    def counted(self):
        return [t for t in self.order if t.is_leaf() or t.failed_beyond_children()]


class Reported:
    """What the runner sent over the private channel during validation."""

    def __init__(self, records):
        self.tests, self.ended, self.tampering = {}, False, None
        for record in records:
            if "tampered" in record and self.tampering is None:
                self.tampering = str(record["tampered"])
            elif "test" in record and not self.ended:
                self.tests[str(record["test"])] = (record.get("status"), int(record.get("ns") or 0))
            elif record.get("end") is True:
                self.ended = True


def test_event(test, ending):
    """`ending`: how the binary ended, for a test that never reported its end."""
    status = {"pass": "passed", "fail": "failed", "skip": "skipped"}.get(test.action, "failed")
    message = test.own_message() if status != "passed" else None
    if test.action is None:
        unfinished = f"(the test binary {ending} before this test finished)"
        message = f"{message}\n{unfinished}" if message else unfinished
    duration = round(test.elapsed * 1000, 3) if test.elapsed is not None else None
    return {"name": test.name, "status": status, "durationMs": duration, "message": trim(message) if message else None}


def binary_failure(message):
    return {"name": "(test binary)", "status": "failed", "durationMs": None, "message": message}


def unfinished_message(reported, returncode):
    if reported.tampering:
        return f"phronosd's runner stopped reporting: {reported.tampering}"
    how = exit_description(returncode)
    if returncode == 0 and not reported.tests:
        return f"the test binary exited ({how}) before phronosd's runner ran (os.Exit in an init, or a TestMain that does not call m.Run?)"
    return f"the test binary exited ({how}) before every test reported its end"


def run_validation(work_dir, package, suite):
    """Run the test binary once: the runner's records over a private channel, the output through
    test2json (for subtest names and messages)."""
    validation = Validation(suite.wrappers)
    channel = PrivateChannel()
    binary = subprocess.Popen(
        [TEST_BINARY, "-test.v=test2json", "-test.paniconexit0", "-test.timeout=0", f"-test.run={suite.selection()}"],
        cwd=work_dir,
        env=child_env(**channel.env()),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        pass_fds=channel.child_fds(),
    )
    channel.spawned()
    records = []
    reader = threading.Thread(target=lambda: records.extend(channel.records()))
    reader.start()
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
    returncode = binary.wait()
    reader.join()
    return validation, Reported(records), returncode


def validation_events(validation, reported, returncode, registered):
    """The test events, and whether the suite ran to its end: the runner's end marker, no tampering,
    and a normal exit (status 1 is `go test`'s own verdict when a test failed)."""
    finished = reported.ended and reported.tampering is None and returncode in (0, 1)
    validation.authenticate(reported.tests, registered)
    ending = f"exited ({exit_description(returncode)})"
    events = [test_event(test, ending) for test in validation.counted()]
    failed = any(e["status"] == "failed" for e in events)
    if reported.tampering or (not finished and not failed):
        events.append(binary_failure(unfinished_message(reported, returncode)))
    elif finished and returncode == 1 and not failed:
        events.append(
            binary_failure(
                "the test binary exited with status 1 after every test passed (TestMain reported a failure?)"
            )
        )
    return events, finished


def top_level_measured(validation, suite):
    """Top-level test functions with at least one leaf that passed (entirely skipped tests are not timed)."""
    tests = set(suite.tests)
    return [t.name for t in validation.order if t.parent is None and t.name in tests and any_passed(t)]


def any_passed(test):
    if test.is_leaf():
        return test.action == "pass"
    return any(any_passed(child) for child in test.children)


def all_passed_or_skipped(events):
    statuses = {e["status"] for e in events}
    return "passed" in statuses and statuses <= {"passed", "skipped"}


class Refused(Exception):
    """The measuring binary must not start."""


def file_digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).digest()


def ensure_unchanged(built):
    """Right before the measuring binary starts: nothing of the submission runs any more (a process the
    tests left could read the binary's token pipe or ptrace it), and the file is the one that was built
    (the tests, same user, could have replaced it)."""
    if not kill_strays():
        raise Refused("processes started by the tests could not be stopped")
    if file_digest(TEST_BINARY) != built:
        raise Refused("the test binary was changed after it was built")


def measure_passed(job, validation, suite, built, step_fd):
    """Time the top-level tests that passed; `step_fd`: a compare job's step pipe, which the test
    binary reads before each timed run."""
    command = [TEST_BINARY, f"-test.run=^{DRIVER_TEST}$", "-test.paniconexit0", "-test.timeout=0"]
    names = top_level_measured(validation, suite)
    try:
        measure(
            job,
            [(command, {name: name for name in names})],
            before_run=lambda _: ensure_unchanged(built),
            step_fd=step_fd,
        )
    except Refused as exc:
        job.reporter.emit("note", message=f"not measured: {exc}")


def prepare(work_dir, env):
    """go.mod, go.work, the generated files and the build. Returns (note, suite, error)."""
    note = fit_go_mod(work_dir)
    write_go_work(work_dir)
    inspected = inspect(work_dir, env)
    if inspected["refused"]:
        return note, None, "phronosd does not build this submission:\n" + "\n".join(inspected["refused"])
    suite = Suite(inspected["suite"])
    write_generated_files(work_dir, inspected, suite)
    return note, suite, build(work_dir, env)


def step_pipe():
    """A compare job's step pipe (None outside compare jobs), kept out of every program this harness
    starts but the measuring test binary, to which `measure` hands it."""
    fd = os.environ.get("PHRONOSD_STEP_FD")
    if fd is None:
        return None
    os.set_inheritable(int(fd), False)
    return int(fd)


def main():
    """A pooled harness (README: the warm pool) makes its build cache before its job arrives."""
    reporter = Reporter.from_env(os.environ)
    env = go_env(SCRATCH + "/gocache")
    link_cache(env["GOCACHE"])
    wait_for_job(reporter, os.environ)
    try:
        return judge(Job(os.environ, reporter), step_pipe(), env)
    finally:
        remove_test_binary()


def remove_test_binary():
    """The binary is most of what a build leaves in $TMPDIR (3 MB for the example): a compare job's
    processes (every solution, every block) share /tmp, and keep their scratch folders to the end."""
    try:
        os.unlink(TEST_BINARY)
    except FileNotFoundError:
        pass


def judge(job, step_fd, env):
    """Build, validate and, in mode `run`, measure; the exit status."""
    work_dir = os.getcwd()
    job.reporter.emit("phase", name="compile")
    note, suite, error = prepare(work_dir, env)
    if note:
        job.reporter.emit("note", message=note)
    if error:
        job.reporter.emit("compile_error", message=error)
        return 0
    job.reporter.emit("phase", name="validate")
    if not suite.names():
        job.reporter.emit("validated", tests=0)
        return 0
    built = file_digest(TEST_BINARY)
    validation, reported, returncode = run_validation(work_dir, module_path(work_dir), suite)
    events, finished = validation_events(validation, reported, returncode, suite.names())
    for event in events:
        job.reporter.emit("test", **event)
    if not finished:
        return exit_status(returncode)
    job.reporter.emit("validated", tests=len(events))
    if job.mode == "run" and all_passed_or_skipped(events):
        measure_passed(job, validation, suite, built, step_fd)
    return 0


def module_roots(src):
    """The module roots among Debian's Go sources (relative paths): every directory with a go.mod, and
    for code outside those, its repository (host/owner/name, Go's own import path convention)."""
    roots, code = set(), set()
    for root, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if d != "testdata" and not d.startswith(("_", "."))]
        rel = os.path.relpath(root, src)
        if "go.mod" in files:
            roots.add(rel)
        elif any(name.endswith(".go") for name in files):
            code.add(rel)
    for rel in sorted(code):
        if not any(rel == root or rel.startswith(root + "/") for root in roots):
            roots.add("/".join(rel.split("/")[:3]))
    return sorted(roots)


def library_go_mod(source_dir, rel):
    """Our go.mod for a library module: its module path and go line (from its own go.mod, else the
    directory and Go's default 1.16) and no requirement: the workspace provides the other libraries."""
    text = ""
    if os.path.exists(os.path.join(source_dir, "go.mod")):
        with open(os.path.join(source_dir, "go.mod"), encoding="utf-8") as handle:
            text = handle.read()
    module, go = MODULE_DIRECTIVE.search(text), GO_DIRECTIVE.search(text)
    return f"module {module.group(1) if module else rel}\n\ngo {go.group(2) if go else '1.16'}\n"


def install_libraries():
    """Image build: copy Debian's Go sources to LIBRARY_DIR, each module with our go.mod, and list the
    modules in LIBRARIES_FILE."""
    modules = {}
    if os.path.isdir(GOCODE):
        shutil.copytree(GOCODE, LIBRARY_DIR, ignore=shutil.ignore_patterns("go.mod", "go.sum", "go.work"))
        for rel in module_roots(GOCODE):
            go_mod = library_go_mod(os.path.join(GOCODE, rel), rel)
            with open(os.path.join(LIBRARY_DIR, rel, "go.mod"), "w", encoding="utf-8") as handle:
                handle.write(go_mod)
            modules[MODULE_DIRECTIVE.search(go_mod).group(1)] = os.path.join(LIBRARY_DIR, rel)
    with open(LIBRARIES_FILE, "w", encoding="utf-8") as handle:
        json.dump(modules, handle, indent=1, sort_keys=True)


def library_packages(work_dir, env):
    """The libraries' importable packages: no error in them or their imports, not a command, not internal."""
    patterns = [module + "/..." for module in libraries()]
    if not patterns:
        return []
    fit_go_mod(work_dir)
    write_go_work(work_dir)
    listed = subprocess.run(
        ["go", "list", "-e", "-f", IMPORTABLE, *patterns],
        cwd=work_dir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return [package for package in listed.stdout.split() if "internal" not in package.split("/")]


def import_libraries(work_dir, env):
    """A test file of the warm-up that imports every library package, so that building it compiles
    and vets them all into the cache, as `go test` does for a submission that imports them."""
    packages = library_packages(work_dir, env)
    if packages:
        with open(os.path.join(work_dir, LIBRARY_IMPORTS_FILE), "w", encoding="utf-8") as handle:
            handle.write(f"package {WARMUP_PACKAGE}\n\nimport (\n" + "".join(f'\t_ "{p}"\n' for p in packages) + ")\n")


def prebuild_cache(warmup_dir):
    """Image build: install the libraries, then fill IMAGE_CACHE with the standard library, phronosd's
    runner, the libraries and a small test binary (its test main, the generated driver, vet), built
    exactly as `main` builds."""
    install_libraries()
    work_dir = SCRATCH + "/phronosd-prebuild"
    shutil.copytree(warmup_dir, work_dir)
    env = go_env(IMAGE_CACHE)
    import_libraries(work_dir, env)
    _note, _suite, error = prepare(work_dir, env)
    if error:
        raise SystemExit(error)
    subprocess.run(["go", "build", "std"], cwd=work_dir, env=env, check=True)
    shutil.rmtree(work_dir)
    shutil.rmtree(BUILD_DIR)
