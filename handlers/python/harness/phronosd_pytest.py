"""pytest plugin of the Python runner: reports per-test results and times the call phase in-process.

Validation is pytest's own run loop. Measurement then repeats, for every run, each collected item:
its fixtures are set up and torn down through pytest's hooks (untimed, so function-scoped fixtures
are fresh for every run, as in a normal test run), and only `item.runtest()` is timed. Teardown goes
exactly to the next item that will run, so module- and session-scoped fixtures live for the whole
measurement, as they do in one pytest session.

The clock is `perf_counter_ns` bound here, when the harness is imported, before pytest imports any
submitted code: a solution that replaces `time.perf_counter_ns` changes neither the samples nor the
`elapsedNs` the daemon checks against the supervisor's clock.

Start-up is `pytest.main` cut in two where the job comes in (handlers/README.md: the warm pool):
pytest and its built-in plugins are imported and registered (`get_config`) before the job is known,
then a pooled harness says `ready` and waits for it; parsing the arguments (which loads the initial
conftest.py files), collection and the run come after (`run_pytest`), the same in a pooled harness
as in a cold one.
"""

import gc
import os
import shutil
import sys
import tempfile
from time import perf_counter_ns

import pytest
from _pytest._code import ExceptionInfo
from _pytest.config import (
    ConftestImportFailure,
    filter_traceback_for_conftest_import_failure,
    get_config,
)
from phronosd_harness import (
    Job,
    MeasureProgress,
    Reporter,
    peak_rss_bytes,
    restart_peak_rss,
    wait_for_job,
)
from phronosd_layout import shaken_heap

# phronosd's own pytest configuration: ini files in the work dir are never read (handlers/README.md).
CONFIG_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pytest.ini")
# Environment variables through which pytest would take options or plugins from outside our arguments.
PYTEST_ENV_OPTIONS = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")
SKIP_EXCEPTIONS = (pytest.skip.Exception, pytest.xfail.Exception)
# What a pooled harness runs once before its job (`warm_up_pytest`): what most suites use.
WARM_UP_MODULE = "test_phronosd_warm_up"
WARM_UP_SUITE = """
import unittest

import pytest


@pytest.fixture
def one():
    return 1


@pytest.mark.parametrize("value", [1, 2])
def test_function(one, value):
    assert one <= value


class TestGroup:
    def test_method(self):
        assert [1, 2] == [1, 2]

    def test_raises(self):
        with pytest.raises(ValueError):
            int("x")


class TestCase(unittest.TestCase):
    def test_case(self):
        self.assertEqual(1, 1)
"""


def timer_resolution_ns():
    """Smallest observable step of the harness's clock."""
    best = None
    for _ in range(200):
        start = perf_counter_ns()
        now = perf_counter_ns()
        while now == start:
            now = perf_counter_ns()
        best = now - start if best is None else min(best, now - start)
    return best


class SilencedOutput:
    """Sends fd 1/2 and sys.stdout/stderr to /dev/null while test bodies are repeated."""

    def __enter__(self):
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = [duplicate(1), duplicate(2)]
        self.streams = (sys.stdout, sys.stderr)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)
        self.null = open(os.devnull, "w", encoding="utf-8")
        sys.stdout = sys.stderr = self.null
        return self

    def __exit__(self, *exc):
        sys.stdout, sys.stderr = self.streams
        self.null.close()
        for fd, saved in zip((1, 2), self.saved):
            if saved is None:
                os.close(fd)  # it was closed before (by a test): leave it closed
            else:
                os.dup2(saved, fd)
                os.close(saved)


def duplicate(fd):
    try:
        return os.dup(fd)
    except OSError:
        return None


class BudgetPacer:
    """Timed runs back to back while the measuring budget lasts (mode `run`), with live `progress`
    (at least every 10 % of the runs, and at the end)."""

    def __init__(self, deadline_ns, reporter, runs):
        self.deadline_ns = deadline_ns
        self.progress = MeasureProgress(reporter, 0, runs, 1)

    def start(self):
        pass

    def next_run(self):
        return perf_counter_ns() <= self.deadline_ns

    def run_done(self, done):
        self.progress.observe(None, done)

    def finish(self, done):
        self.progress.finish(done)


class StepPacer:
    """A compare job's timed runs: one for each byte the driver writes to the step fd, until its end
    (handlers/README.md: Compare jobs). The driver keeps its own budget and reports the progress."""

    def __init__(self, fd, reporter):
        self.fd = fd
        self.reporter = reporter

    def start(self):
        self.reporter.emit("stepping")

    def next_run(self):
        return os.read(self.fd, 1) != b""

    def run_done(self, _done):
        self.reporter.emit("step_done")

    def finish(self, _done):
        pass


class PhronosPlugin:
    def __init__(self, job, step_fd=None):
        self.reporter = job.reporter
        self.step_fd = step_fd
        self.prefix = job.test_file + "::"
        self.work_dir = os.getcwd()
        self.solution_path = os.path.join(self.work_dir, job.solution_file)
        self.mode = job.mode
        self.runs = job.runs
        self.warmup = job.warmup
        self.budget_ns = job.budget_ms * 1_000_000
        self.collect_errors = []
        self.results = {}
        self.reported = set()
        self.tests_sent = 0

    def test_name(self, nodeid):
        return nodeid.removeprefix(self.prefix)

    @pytest.hookimpl
    def pytest_plugin_registered(self, plugin):
        """A conftest.py (or a `pytest_plugins` module) from the request's files takes part in the run:
        the user is told, since its hooks can change how tests run and are reported."""
        path = getattr(plugin, "__file__", None)
        if path and os.path.commonpath([self.work_dir, os.path.abspath(path)]) == self.work_dir:
            name = os.path.relpath(path, self.work_dir)
            self.reporter.emit(
                "note",
                message=f"pytest loaded {name} from the request's files as a plugin "
                "(conftest.py or pytest_plugins): its fixtures and hooks took part in the run",
            )

    @pytest.hookimpl
    def pytest_collectreport(self, report):
        if report.failed:
            self.collect_errors.append(report.longreprtext)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        """A skip or xfail that the solution's own code raised is a failure, not a skip. Looked for
        before pytest's own hooks (they replace a unittest.SkipTest by a skip without its traceback)
        and after them (a unittest.TestCase's skip reaches the call only then)."""
        cheat = self.skip_by_solution(call.excinfo)
        report = yield
        cheat = cheat or self.skip_by_solution(call.excinfo)
        if cheat and report.skipped:
            report.outcome = "failed"
            report.longrepr = cheat
        return report

    def skip_by_solution(self, excinfo):
        """Why a skip/xfail is the solution's (the solution's code is in its traceback), or None."""
        for exc in skip_chain(excinfo.value if excinfo else None):
            lines = [
                tb.tb_lineno
                for tb in traceback_entries(exc.__traceback__)
                if os.path.abspath(tb.tb_frame.f_code.co_filename) == self.solution_path
            ]
            if lines:
                where = f"{os.path.relpath(self.solution_path, self.work_dir)}:{lines[-1]}"
                return f"{type(exc).__name__} raised by the solution at {where}: a solution cannot skip or xfail a test"
        return None

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report):
        name = self.test_name(report.nodeid)
        result = self.results.setdefault(name, {"status": "passed", "durationMs": 0.0, "message": None})
        if report.when == "call":
            result["durationMs"] = round(report.duration * 1000, 3)
        if report.skipped and result["status"] == "passed":
            result["status"] = "skipped"
            result["message"] = skip_reason(report)
        elif report.failed:
            result["status"] = "failed" if report.when == "call" else "error"
            result["message"] = report.longreprtext
        if report.when == "teardown":
            # Sent as soon as a test is complete: a crash later keeps the counts of what ran.
            self.reporter.emit("test", name=name, **result)
            self.tests_sent += 1
            self.reported.add(name)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session):
        if self.collect_errors:
            self.reporter.emit("compile_error", message="\n".join(self.collect_errors))
            return True
        self.reporter.emit("phase", name="validate")
        items = session.items
        for index, item in enumerate(items):
            nextitem = items[index + 1] if index + 1 < len(items) else None
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            if session.shouldstop:
                break
        if not self.saw_every_test_end(items):
            return True
        self.reporter.emit("validated", tests=self.tests_sent)
        statuses = [r["status"] for r in self.results.values()]
        measurable = [
            item for item in items if self.results.get(self.test_name(item.nodeid), {}).get("status") == "passed"
        ]
        if self.mode == "run" and measurable and not set(statuses) & {"failed", "error"}:
            self.measure(session, measurable)
        return True

    def saw_every_test_end(self, items):
        """The suite is finished only when every collected test was reported through its teardown."""
        missing = [item for item in items if self.test_name(item.nodeid) not in self.reported]
        if missing:
            self.reporter.emit(
                "note",
                message=f"the run stopped before {len(missing)} of {len(items)} tests "
                f"had run (first: {self.test_name(missing[0].nodeid)})",
            )
        return not missing

    def measure(self, session, items):
        self.reporter.emit("phase", name="measure")
        started = perf_counter_ns()
        resolution = timer_resolution_ns()
        capman = session.config.pluginmanager.getplugin("capturemanager")
        if capman is not None:
            capman.suspend_global_capture(in_=True)
        samples = {self.test_name(item.nodeid): [] for item in items}
        restart_peak_rss()
        deadline_ns = started + self.budget_ns
        with SilencedOutput():
            warmed, note = self.warm_up(items, deadline_ns)
            if note is None and warmed == self.warmup:
                note = self.timed_runs(items, samples, self.pacer(deadline_ns))
        count = min(len(s) for s in samples.values())
        for name, values in samples.items():
            self.reporter.emit("samples", test=name, ns=values[:count])
        self.reporter.emit(
            "measured",
            warmup=warmed,
            timerResolutionNs=resolution,
            notes=[note] if note else [],
            rssPeakBytes=peak_rss_bytes(),
            elapsedNs=perf_counter_ns() - started,
        )

    def pacer(self, deadline_ns):
        if self.step_fd is not None:
            return StepPacer(self.step_fd, self.reporter)
        return BudgetPacer(deadline_ns, self.reporter, self.runs)

    def warm_up(self, items, deadline_ns):
        """Untimed runs (never stepped) within the budget: (runs done, why measuring stops or None)."""
        done = 0
        while done < self.warmup and perf_counter_ns() <= deadline_ns:
            failure = self.one_run(items, None)
            if failure:
                return done, failure
            done += 1
        return done, None

    def timed_runs(self, items, samples, pacer):
        """The timed runs, as many as asked while the pacer lets them go on: why they stopped early
        (a test failed), or None."""
        done, failure = 0, None
        pacer.start()
        while done < self.runs and failure is None and pacer.next_run():
            failure = self.one_run(items, samples)
            if failure is None:
                done += 1
                pacer.run_done(done)
        pacer.finish(done)
        return failure

    def one_run(self, items, samples):
        """Run every item once; record call-phase ns into `samples` (None for a warm-up run). The last
        item tears down to the first, ready for the next run; the session's end tears down the rest.
        In a compare job every run gets a fresh heap layout (`phronosd_layout`), held until the run
        ends. Not in a `/run`: there a run follows the last one on a warm cache, which the layout's
        allocations would cool (a 5 µs test measured 9 to 23 % slower); in a compare a run follows a
        rival's turn on the same core, so the cache is cold anyway (4 % slower)."""
        clock = perf_counter_ns  # a local: no global lookup inside the timed span
        held = shaken_heap() if self.step_fd is not None else None  # noqa: F841 (occupies blocks)
        for index, item in enumerate(items):
            nextitem = items[index + 1] if index + 1 < len(items) else items[0]
            if nextitem is item:
                nextitem = item.parent  # a one-test suite: tear down the function scope only
            new_request(item)
            try:
                item.ihook.pytest_runtest_setup(item=item)
                start = clock()
                item.runtest()
                elapsed = clock() - start
            except BaseException as exc:  # a test that stops passing while measured ends measurement
                item.ihook.pytest_runtest_teardown(item=item, nextitem=None)
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                return f"{self.test_name(item.nodeid)} raised {type(exc).__name__} while measured: {exc}"
            item.ihook.pytest_runtest_teardown(item=item, nextitem=nextitem)
            drop_request(item)
            if samples is not None:
                samples[self.test_name(item.nodeid)].append(elapsed)
        return None


def skip_exceptions():
    """pytest's skip and xfail, and unittest.SkipTest (which pytest turns into a skip) once imported."""
    unittest = sys.modules.get("unittest")
    return SKIP_EXCEPTIONS + ((unittest.SkipTest,) if unittest else ())


def skip_chain(exc):
    """A skip exception and the skips it was raised while handling (pytest raises its own skip while
    handling a unittest.SkipTest of a TestCase)."""
    while isinstance(exc, skip_exceptions()):
        yield exc
        exc = exc.__context__


def traceback_entries(tb):
    """The entries of a traceback, outermost first."""
    while tb is not None:
        yield tb
        tb = tb.tb_next


def new_request(item):
    """A fresh fixture request, as pytest's runtestprotocol makes one for every run of an item."""
    if hasattr(item, "_initrequest"):
        item._initrequest()


def drop_request(item):
    """Forget the fixture values of the last run, as pytest does after each protocol run."""
    if hasattr(item, "_initrequest"):
        item._request = False
        item.funcargs = None


def skip_reason(report):
    if hasattr(report, "wasxfail"):
        return f"xfail: {report.wasxfail}"
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr) if longrepr else None


def keep_own_output():
    """pytest writes through duplicates of fd 1 and 2, so a test that closes them breaks only itself."""
    sys.stdout = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace")
    sys.stderr = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")


def refuse_pytest_options(env):
    """Drop every way pytest would take options or plugins from the environment instead of from our
    arguments (before the warm-up suite too: it parses arguments like the job's run)."""
    for key in PYTEST_ENV_OPTIONS:
        env.pop(key, None)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"


def drop_job_variables(env):
    """The job's variables are read: the code under test need not see them."""
    for key in [k for k in env if k.startswith("PHRONOSD_")]:
        del env[key]


def step_fd(env):
    """The compare driver's step pipe (`PHRONOSD_STEP_FD`), kept from processes the tests start; None
    outside a compare job."""
    fd = env.get("PHRONOSD_STEP_FD")
    if fd is None:
        return None
    os.set_inheritable(int(fd), False)
    return int(fd)


def pytest_options(work_dir):
    """Our own config file (`-c`), so pytest.ini, pyproject.toml, tox.ini and setup.cfg in the work dir
    are not read; the work dir stays the rootdir, and conftest.py files are looked for from it down."""
    return [
        "-c",
        CONFIG_FILE,
        "--rootdir",
        work_dir,
        "--confcutdir",
        work_dir,
        "-q",
        "--color=no",
        "--capture=tee-sys",
        "-p",
        "no:cacheprovider",
    ]


def run_pytest(config, args, plugin):
    """What `pytest.main(args, plugins=[plugin])` does once `get_config` made `config`: register the
    plugin, parse the arguments (loading the initial conftest.py files), run the session. A conftest.py
    that does not import, or options pytest refuses (a conftest's own), are a `compile_error`."""
    config.pluginmanager.register(plugin)
    try:
        config = parse_arguments(config, args)
    except (ConftestImportFailure, pytest.UsageError) as exc:
        plugin.reporter.emit("compile_error", message=startup_error(exc))
        return pytest.ExitCode.USAGE_ERROR
    return run_session(config)


def parse_arguments(config, args):
    """pytest.main's parsing step, PYTEST_VERSION included (the tests may read it)."""
    os.environ["PYTEST_VERSION"] = pytest.__version__
    try:
        return config.pluginmanager.hook.pytest_cmdline_parse(pluginmanager=config.pluginmanager, args=args)
    except BaseException:
        config._ensure_unconfigure()
        raise


def run_session(config):
    try:
        return config.hook.pytest_cmdline_main(config=config)
    finally:
        config._ensure_unconfigure()


def startup_error(exc):
    """pytest's own words for an error before collection (`pytest.main` prints the same)."""
    if not isinstance(exc, ConftestImportFailure):
        return "\n".join(str(arg) for arg in exc.args)
    info = ExceptionInfo.from_exception(exc.cause)
    info.traceback = info.traceback.filter(filter_traceback_for_conftest_import_failure)
    detail = str(info.getrepr(style="short", chain=False)) if info.traceback else info.exconly()
    return f"ImportError while loading conftest '{exc.path}'.\n{detail}"


def warm_up_pytest():
    """A pooled harness, before it says `ready`: run WARM_UP_SUITE, silenced, in a folder of its own
    under $TMPDIR, so that the job's run finds pytest's lazily loaded modules and first-call caches
    ready; then leave nothing of it behind (its folder, module, sys.path entry) and freeze what is
    left (`gc.freeze`: the job's garbage collections no longer walk pytest's own objects)."""
    folder = tempfile.mkdtemp(prefix="phronosd-warm-up-")
    path = os.path.join(folder, WARM_UP_MODULE + ".py")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(WARM_UP_SUITE)
    saved_path = list(sys.path)
    try:
        with SilencedOutput():
            options = pytest_options(folder)
            run_session(parse_arguments(get_config(list(options)), [path, *options]))
    finally:
        sys.path[:] = saved_path
        sys.path_importer_cache.pop(folder, None)
        sys.modules.pop(WARM_UP_MODULE, None)
        shutil.rmtree(folder, ignore_errors=True)
    gc.collect()
    gc.freeze()


def exit_at_once(code):
    """End the process without the interpreter's finalization (freeing every module pytest loaded:
    about 50 ms of CPU, as much as a whole pooled validation): the report is sent and the output is
    flushed here. Threads and atexit handlers the tests left behind end unrun."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a test closed it
            pass
    os._exit(code)


def main():
    keep_own_output()
    reporter = Reporter.from_env(
        os.environ
    )  # reads the report token and closes its pipe before any submitted code loads
    refuse_pytest_options(os.environ)
    options = pytest_options(os.getcwd())
    if "PHRONOSD_JOB_FD" in os.environ:  # pooled: the job comes later, and time spent now is free
        warm_up_pytest()
    config = get_config(list(options))  # pytest and its built-in plugins: nothing of the job
    wait_for_job(reporter, os.environ)
    job = Job(os.environ, reporter)
    steps = step_fd(os.environ)
    drop_job_variables(os.environ)
    reporter.emit("phase", name="compile")
    code = run_pytest(config, [job.test_file, *options], PhronosPlugin(job, steps))
    reporter.stream.close()
    return int(code)
