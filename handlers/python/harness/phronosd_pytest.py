"""pytest plugin of the Python runner: reports per-test results and times the call phase in-process.

Validation is pytest's own run loop. Measurement then repeats, for every run, each collected item:
its fixtures are set up and torn down through pytest's hooks (untimed, so function-scoped fixtures
are fresh for every run, as in a normal test run), and only `item.runtest()` is timed with
`time.perf_counter_ns()`. Teardown goes exactly to the next item that will run, so module- and
session-scoped fixtures live for the whole measurement, as they do in one pytest session.
"""

import os
import sys
import time

import pytest
from phronosd_harness import Reporter, peak_rss_bytes, restart_peak_rss


def timer_resolution_ns():
    """Smallest observable step of perf_counter_ns."""
    best = None
    for _ in range(200):
        start = time.perf_counter_ns()
        now = time.perf_counter_ns()
        while now == start:
            now = time.perf_counter_ns()
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


class PhronosPlugin:
    def __init__(self, reporter, test_file, mode, runs, warmup, budget_ms):
        self.reporter = reporter
        self.prefix = test_file + "::"
        self.mode = mode
        self.runs = runs
        self.warmup = warmup
        self.budget_ns = budget_ms * 1_000_000
        self.collect_errors = []
        self.results = {}

    def test_name(self, nodeid):
        return nodeid[len(self.prefix):] if nodeid.startswith(self.prefix) else nodeid

    @pytest.hookimpl
    def pytest_collectreport(self, report):
        if report.failed:
            self.collect_errors.append(report.longreprtext)

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
        self.reporter.emit("validated")
        statuses = [r["status"] for r in self.results.values()]
        measurable = [item for item in items if self.results.get(self.test_name(item.nodeid), {}).get("status") == "passed"]
        if self.mode == "run" and measurable and not set(statuses) & {"failed", "error"}:
            self.measure(session, measurable)
        return True

    def measure(self, session, items):
        self.reporter.emit("phase", name="measure")
        resolution = timer_resolution_ns()
        capman = session.config.pluginmanager.getplugin("capturemanager")
        if capman is not None:
            capman.suspend_global_capture(in_=True)
        samples = {self.test_name(item.nodeid): [] for item in items}
        notes = []
        restart_peak_rss()
        with SilencedOutput():
            started = time.perf_counter_ns()
            total = self.warmup + self.runs
            done = 0
            while done < total and time.perf_counter_ns() - started <= self.budget_ns:
                timed = done >= self.warmup
                failure = self.one_run(items, samples if timed else None, last=done + 1 == total)
                if failure:
                    notes.append(failure)
                    break
                done += 1
        count = min(len(s) for s in samples.values())
        for name, values in samples.items():
            self.reporter.emit("samples", test=name, ns=values[:count])
        self.reporter.emit("measured", warmup=min(self.warmup, done), timerResolutionNs=resolution, notes=notes,
                           rssPeakBytes=peak_rss_bytes())

    def one_run(self, items, samples, last):
        """Run every item once; record call-phase ns into `samples` (None for a warm-up run)."""
        clock = time.perf_counter_ns
        for index, item in enumerate(items):
            nextitem = items[index + 1] if index + 1 < len(items) else (None if last else items[0])
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


def main():
    keep_own_output()
    env = os.environ
    reporter = Reporter(int(env["PHRONOSD_REPORT_FD"]))
    test_file = env["PHRONOSD_TEST_FILE"]
    plugin = PhronosPlugin(
        reporter,
        test_file,
        env["PHRONOSD_MODE"],
        int(env["PHRONOSD_RUNS"]),
        int(env["PHRONOSD_WARMUP"]),
        int(env["PHRONOSD_BUDGET_MS"]),
    )
    for key in [k for k in env if k.startswith("PHRONOSD_")]:
        del env[key]  # the job's settings are read; the code under test need not see them
    reporter.emit("phase", name="compile")
    args = [test_file, "-q", "--color=no", "--capture=tee-sys", "-p", "no:cacheprovider", "--rootdir", os.getcwd()]
    code = pytest.main(args, plugins=[plugin])
    reporter.stream.close()
    return int(code)
