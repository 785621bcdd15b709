"""Harness helpers shared by the Python-driven harnesses (Python, C++, Go, Rust): the report channel,
the job, and (for Go and Rust) reading what a test binary measured.

The test binaries of Go and Rust time their own test bodies in-process (a generated Go test, a
Rust custom test runner) and write what they measured to a private pipe, never to the report fd:

    {"tests": [names], "timerResolutionNs": n}   once, first
    {"ns": [one int per test, in that order]}    after every completed run, warm-up runs included
    {"failed": name}                             a test stopped passing; the binary stops measuring

The binary reads PHRONOSD_WARMUP, PHRONOSD_RUNS, PHRONOSD_BUDGET_MS, PHRONOSD_MEASURE_TESTS (the
comma-separated names to time) and PHRONOSD_SAMPLES_FD. This module turns those lines into the
contract's `samples` and `measured` events.
"""

import ctypes
import json
import os
import re
import subprocess
import sys
import time

sys.path.append("/opt/phronosd")
from supervisor import PR_SET_DUMPABLE, make_non_dumpable  # noqa: E402  (every image has the supervisor there)

MESSAGE_LIMIT = 8000


class Reporter:
    """Writes report events to the supervisor's private pipe.

    The test binary is this process's child, same user: were this process dumpable, the binary could
    open the pipe through /proc/<ppid>/fd and write forged events, or ptrace this process."""

    def __init__(self, fd):
        make_non_dumpable()
        self.stream = os.fdopen(fd, "w", buffering=1, encoding="utf-8", closefd=True)

    def emit(self, event, **fields):
        self.stream.write(json.dumps({"event": event, **fields}) + "\n")
        self.stream.flush()


class Job:
    """The harness's job, from the supervisor's environment."""

    def __init__(self, env):
        self.mode = env["PHRONOSD_MODE"]
        self.runs = int(env["PHRONOSD_RUNS"])
        self.warmup = int(env["PHRONOSD_WARMUP"])
        self.budget_ms = int(env["PHRONOSD_BUDGET_MS"])
        self.solution_file = env["PHRONOSD_SOLUTION_FILE"]
        self.test_file = env["PHRONOSD_TEST_FILE"]
        self.options = json.loads(env.get("PHRONOSD_OPTIONS") or "{}")
        self.reporter = Reporter(int(env["PHRONOSD_REPORT_FD"]))


def child_env(**extra):
    """The harness's environment without the PHRONOSD_* variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHRONOSD_")}
    env.update(extra)
    return env


def trim(text, limit=MESSAGE_LIMIT):
    """Keep a message readable: its start, where compilers and test frameworks put the cause."""
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "\n... (truncated)"


def exit_status(code):
    """A child's return code as this process's exit status (128 + signal when it was killed)."""
    return 128 - code if code < 0 else code


def exit_description(code):
    return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


def restart_peak_rss():
    """Start this process's peak resident size over from its current size (Linux `clear_refs` 5), so
    that `peak_rss_bytes` covers only what follows. A non-dumpable process's /proc files belong to
    root, so the reset is made while briefly dumpable (the Python harness, whose tests run in this
    process anyway; the others time a child process and read its peak from `wait4`)."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass
    finally:
        make_non_dumpable()


def peak_rss_bytes():
    """This process's peak resident size (VmHWM) since it started or since `restart_peak_rss`."""
    try:
        with open("/proc/self/status") as handle:
            found = re.search(r"^VmHWM:\s+(\d+) kB", handle.read(), re.MULTILINE)
    except OSError:
        return None
    return int(found.group(1)) * 1024 if found else None


def wait_with_peak_rss(proc):
    """Wait for a child; return its return code and its peak resident size in bytes (from wait4)."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss * 1024


class SamplerRun:
    """What one test binary measured: names, per-run ns rows, and why it stopped early (if it did)."""

    def __init__(self, lines, returncode, peak_rss):
        self.names, self.rows, self.resolution_ns, self.note = [], [], 0, None
        self.peak_rss = peak_rss
        for line in lines:
            self.take(line)
        if self.note is None and returncode != 0:
            self.note = f"the test binary stopped during measurement ({exit_description(returncode)})"
        elif self.note is None and not self.names:
            self.note = "the test binary did not run phronosd's measuring code (does TestMain call m.Run?)"

    def take(self, line):
        try:
            record = json.loads(line)
        except ValueError:
            return
        if "tests" in record:
            self.names = [str(name) for name in record["tests"]]
            self.resolution_ns = int(record.get("timerResolutionNs") or 0)
        elif "ns" in record and len(record["ns"]) == len(self.names):
            self.rows.append([int(ns) for ns in record["ns"]])
        elif "failed" in record:
            self.note = f"{record['failed']} failed while measured; measurement stopped"


def run_sampler(command, names, warmup, runs, budget_ms):
    """Run one test binary in measure mode; its output is discarded, its samples read from a pipe."""
    read_end, write_end = os.pipe()
    env = child_env(
        PHRONOSD_SAMPLES_FD=str(write_end),
        PHRONOSD_WARMUP=str(warmup),
        PHRONOSD_RUNS=str(runs),
        PHRONOSD_BUDGET_MS=str(max(int(budget_ms), 0)),
        PHRONOSD_MEASURE_TESTS=",".join(names),
    )
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(write_end,),
        env=env,
    )
    os.close(write_end)
    with os.fdopen(read_end, "r", encoding="utf-8", errors="replace") as samples:
        lines = samples.read().splitlines()
    return SamplerRun(lines, *wait_with_peak_rss(proc))


def measure(job, samplers):
    """Measure phase over one or more test binaries.

    `samplers` is a list of (command, {name in the binary: reported name}). Each binary gets an equal
    share of the remaining budget; the per-test lists are cut to the run count all binaries reached.
    """
    job.reporter.emit("phase", name="measure")
    started = time.monotonic()
    samples, notes, resolution, warmups, peaks = {}, [], 0, [], []
    for index, (command, names) in enumerate(samplers):
        left_ms = job.budget_ms - (time.monotonic() - started) * 1000
        share_ms = left_ms / (len(samplers) - index)
        result = run_sampler(command, list(names), job.warmup, job.runs, share_ms)
        for name in names.values():
            samples.setdefault(name, [])
        resolution = max(resolution, result.resolution_ns)
        peaks.append(result.peak_rss)
        warmups.append(min(job.warmup, len(result.rows)))
        if result.note:
            notes.append(result.note)
        timed = result.rows[job.warmup:]
        for column, name in enumerate(result.names):
            samples[names.get(name, name)] = [row[column] for row in timed]
    count = min((len(values) for values in samples.values()), default=0)
    for name, values in samples.items():
        job.reporter.emit("samples", test=name, ns=values[:count])
    job.reporter.emit("measured", warmup=min(warmups, default=0), timerResolutionNs=resolution, notes=notes,
                      rssPeakBytes=max(peaks, default=None))
