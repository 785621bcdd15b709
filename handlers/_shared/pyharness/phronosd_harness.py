"""Harness helpers shared by the Python-driven harnesses (Python, C++, Go, Rust): the report channel,
the job, and (for C++, Go and Rust) reading what a test binary measured.

The test binaries of C++, Go and Rust time their own test bodies in-process (phronosd's gtest main,
a generated Go test, a Rust custom test runner) and write what they measured to a `PrivateChannel`,
never to the report fd, each line behind the channel's token:

    {"tests": [names], "timerResolutionNs": n}   once, first
    {"ns": [one int per test, in that order]}    after every completed run, warm-up runs included
    {"failed": name}                             a test stopped passing; the binary stops measuring
    {"end": true, "elapsedNs": n}                the measuring loop ended; n: its own clock from its
                                                 first reading (before the first run) to this line

The binary reads PHRONOSD_WARMUP, PHRONOSD_RUNS, PHRONOSD_BUDGET_MS, PHRONOSD_MEASURE_TESTS (the
names to time, one per line) and the channel's PHRONOSD_TOKEN_FD and PHRONOSD_RESULTS_FD. This module
turns those records into the contract's `samples` and `measured` events.
"""

import ctypes
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time

sys.path.append("/opt/phronosd")
from supervisor import PR_SET_DUMPABLE, make_non_dumpable

MESSAGE_LIMIT = 8000


def read_token(fd):
    """The per-run token from its one-shot pipe (read once, then closed): the key of a report channel."""
    with os.fdopen(fd, "rb") as pipe:
        return pipe.readline().strip().decode("ascii")


class Reporter:
    """Writes report events to the supervisor's private channel, each line behind the per-run token.

    The token is read from its own pipe before any submitted code is loaded (see `read_token`), so a
    line the code under test writes to the report fd is not counted. The test binary is this
    process's child, same user: were this process dumpable, the binary could read this process's
    memory (the token) through /proc/<ppid>/mem or ptrace it."""

    def __init__(self, fd, token):
        make_non_dumpable()
        self.prefix = token + " "
        self.stream = os.fdopen(fd, "w", buffering=1, encoding="utf-8", closefd=True)

    @classmethod
    def from_env(cls, env):
        return cls(int(env["PHRONOSD_REPORT_FD"]), read_token(int(env["PHRONOSD_TOKEN_FD"])))

    def emit(self, event, **fields):
        """One write per event, led by a newline: a partial line that code under test left on the report
        fd ends there (and is dropped) instead of swallowing this event."""
        self.stream.write("\n" + self.prefix + json.dumps({"event": event, **fields}) + "\n")
        self.stream.flush()


class Job:
    """The harness's job, from the supervisor's environment. `reporter`: one made already (its token
    can be read only once), e.g. by a pooled harness before its job arrived (`wait_for_job`)."""

    def __init__(self, env, reporter=None):
        self.mode = env["PHRONOSD_MODE"]
        self.runs = int(env["PHRONOSD_RUNS"])
        self.warmup = int(env["PHRONOSD_WARMUP"])
        self.budget_ms = int(env["PHRONOSD_BUDGET_MS"])
        self.solution_file = env["PHRONOSD_SOLUTION_FILE"]
        self.test_file = env["PHRONOSD_TEST_FILE"]
        self.options = json.loads(env.get("PHRONOSD_OPTIONS") or "{}")
        self.reporter = reporter if reporter is not None else Reporter.from_env(env)


def wait_for_job(reporter, env):
    """A pooled harness (`PHRONOSD_JOB_FD` in `env`; handlers/README.md: the warm pool) has loaded what
    does not depend on the job: say `ready`, then block until the job's variables arrive on that fd
    (one JSON object) and put them into `env`. A cold harness has its job in `env` already: nothing
    to do."""
    fd = env.pop("PHRONOSD_JOB_FD", None)
    if fd is None:
        return
    reporter.emit("ready")
    with os.fdopen(int(fd), "rb") as pipe:
        job = json.load(pipe)
    env.update({key: str(value) for key, value in job.items() if key.startswith("PHRONOSD_")})


class PrivateChannel:
    """An authenticated results channel from a test binary (Go, Rust, C++) to its harness.

    The harness makes a fresh token per binary run and hands it over through a one-shot pipe
    (`PHRONOSD_TOKEN_FD`) that the binary's phronosd code reads and closes before any submitted code
    runs (C++ and Rust: an `.preinit_array` entry; Go: the `init` of a package the tests import,
    which runs before the package under test is initialised). Results go to `PHRONOSD_RESULTS_FD`,
    each line behind the token: what the code under test prints, or writes to that fd or to any
    file, is not counted, and a binary that exits early never sent its authenticated end marker."""

    def __init__(self):
        self.token = secrets.token_hex(16)
        self.token_r, token_w = os.pipe()
        os.write(token_w, (self.token + "\n").encode())
        os.close(token_w)
        # A socket pair, not a pipe: the binary's submitted code could open a pipe's write end again
        # through /proc/self/fd/<n> for reading, and take the binary's own records (the token too).
        self.results_r, self.results_w = (end.detach() for end in socket.socketpair())
        self.rejected = 0

    def env(self):
        return {"PHRONOSD_TOKEN_FD": str(self.token_r), "PHRONOSD_RESULTS_FD": str(self.results_w)}

    def child_fds(self):
        return (self.token_r, self.results_w)

    def spawned(self):
        """Close the child's ends in this process (call right after starting the binary)."""
        for fd in self.child_fds():
            os.close(fd)

    def records(self):
        """Read the results channel to its end; yield the authenticated JSON records in order."""
        prefix = self.token + " "
        with os.fdopen(self.results_r, "r", encoding="utf-8", errors="replace") as results:
            for line in results:
                record = None
                if line.startswith(prefix):
                    try:
                        record = json.loads(line[len(prefix) :])
                    except ValueError:
                        record = None
                if isinstance(record, dict):
                    yield record
                elif line.strip():
                    self.rejected += 1


def kill_strays(deadline_s=5.0):
    """Kill every process of the container but init, the supervisor and this harness; True once none
    is left alive. Call it before a test binary starts: a process left behind by earlier submitted
    code (a build script, a test binary's child) could otherwise read the next binary's token pipe
    through /proc/<pid>/fd before the binary takes it, or change the binary's file."""
    keep = {1, os.getppid(), os.getpid()} | other_entrants()
    until = time.monotonic() + deadline_s
    while strays := [pid for pid in live_pids() if pid not in keep]:
        if time.monotonic() > until:
            return False
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.001)
    return True


def other_entrants():
    """In a compare job the supervisor runs one harness per solution (README: compare jobs), each
    stopped (SIGSTOP to its process group) while another works: the other harnesses (the
    supervisor's children) and the test binaries they started (their children, in their process
    group) are not strays. A process that submitted code left behind is neither (orphans go to init),
    nor is a test binary that left its harness's group (the driver could not stop it). Outside compare
    jobs, the set is empty."""
    parents = parent_and_group_pids()
    harnesses = {pid for pid, (parent, _) in parents.items() if parent == os.getppid() and pid != os.getpid()}
    return harnesses | {pid for pid, (parent, group) in parents.items() if parent in harnesses and group == parent}


def parent_and_group_pids():
    """{pid: (parent pid, process group id)} of the container's processes."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            found[int(entry)] = (int(fields[1]), int(fields[2]))
        except (OSError, IndexError, ValueError):
            continue
    return found


def live_pids():
    """The container's processes that are not zombies (a zombie can do nothing; its parent reaps it)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X"):
            pids.append(int(entry))
    return pids


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
    """What one test binary measured: names, per-run ns rows, its own elapsed time, and why it stopped
    early (if it did)."""

    def __init__(self):
        self.names, self.rows, self.resolution_ns, self.note = [], [], 0, None
        self.elapsed_ns, self.ended = 0, False
        self.peak_rss = None

    def finish(self, returncode, peak_rss):
        """The binary exited: say why it stopped early, if it did."""
        self.peak_rss = peak_rss
        if self.note is None and returncode != 0:
            self.note = f"the test binary stopped during measurement ({exit_description(returncode)})"
        elif self.note is None and not self.names:
            self.note = "the test binary did not run phronosd's measuring code (does TestMain call m.Run?)"
        elif self.note is None and not self.ended:
            self.note = "the test binary exited before its measuring loop ended"

    def take(self, record):
        if "tests" in record and not self.names:
            self.names = [str(name) for name in record["tests"]]
            self.resolution_ns = int(record.get("timerResolutionNs") or 0)
        elif "ns" in record and len(record["ns"]) == len(self.names) and not self.ended:
            self.rows.append([int(ns) for ns in record["ns"]])
        elif "failed" in record:
            self.note = f"{record['failed']} failed while measured; measurement stopped"
        elif record.get("end") is True:
            self.ended = True
            self.elapsed_ns = int(record.get("elapsedNs") or 0)


def run_sampler(command, names, warmup, runs, budget_ms, before_run=None, on_record=None, step_fd=None):
    """Run one test binary in measure mode; its output is discarded, its samples read from a private,
    authenticated channel. Returns the run and the wall time this process saw it take (ns).
    `before_run(command)`, if given, is called right before the binary starts (e.g. `kill_strays` and a
    check that the binary is still the one that was validated); it raises to refuse the run.
    `on_record(record, rows)`, if given, is called after each record while the binary runs, with the
    number of rows (runs, warm-up included) read so far. `step_fd`: a compare job's step pipe, passed
    on to the binary (`PHRONOSD_STEP_FD`), which reads one byte before each timed run."""
    if before_run is not None:
        before_run(command)
    channel = PrivateChannel()
    env = child_env(
        PHRONOSD_WARMUP=str(warmup),
        PHRONOSD_RUNS=str(runs),
        PHRONOSD_BUDGET_MS=str(max(int(budget_ms), 0)),
        PHRONOSD_MEASURE_TESTS="\n".join(names),
        **channel.env(),
        **({} if step_fd is None else {"PHRONOSD_STEP_FD": str(step_fd)}),
    )
    started = time.monotonic_ns()
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=channel.child_fds() + (() if step_fd is None else (step_fd,)),
        env=env,
    )
    channel.spawned()
    run = SamplerRun()
    for record in channel.records():
        run.take(record)
        if on_record is not None:
            on_record(record, len(run.rows))
    run.finish(*wait_with_peak_rss(proc))
    return run, time.monotonic_ns() - started


class MeasureProgress:
    """Live `progress` events of a measure phase over `binaries` test binaries run one after the other:
    a run of the suite is one run of every binary, so `runsDone` counts the timed rows of all of them
    divided by their number. Sent at least every 10 % of `runs` and once more at the end."""

    def __init__(self, reporter, warmup, runs, binaries):
        self.reporter, self.warmup, self.runs, self.binaries = reporter, warmup, runs, max(binaries, 1)
        self.step = max(1, runs // 10)
        self.rows_before = 0  # timed rows of the binaries that finished
        self.sent = 0

    def observe(self, _record, rows):
        """The current binary has reported `rows` runs, warm-up included."""
        done = (self.rows_before + max(rows - self.warmup, 0)) // self.binaries
        if done >= self.sent + self.step or (done == self.runs and done > self.sent):
            self.send(done)

    def binary_done(self, rows):
        self.rows_before += max(rows - self.warmup, 0)

    def finish(self, done):
        self.send(done)

    def send(self, done):
        self.sent = done
        self.reporter.emit("progress", phase="measure", runsDone=done, runsTotal=self.runs)


class Stepping:
    """A compare job's timed runs, one at a time (README: compare jobs): the binary reads a byte of the
    step pipe before each timed run and acknowledges it with a `{"step": n}` record. This harness
    says `stepping` once the binary's warm-up is done, and forwards each acknowledgement as
    `step_done`. The driver reports the progress."""

    def __init__(self, reporter, warmup):
        self.reporter, self.warmup, self.started = reporter, warmup, False

    def observe(self, record, rows):
        if not self.started and rows >= self.warmup:
            self.started = True
            self.reporter.emit("stepping")
        if "step" in record:
            self.reporter.emit("step_done")

    def binary_done(self, _rows):
        pass

    def finish(self, _done):
        pass


def measure(job, samplers, before_run=None, step_fd=None):
    """Measure phase over one or more test binaries.

    `samplers` is a list of (command, {name in the binary: reported name}). Each binary gets an equal
    share of the remaining budget; the per-test lists are cut to the run count all binaries reached.
    `elapsedNs` is the phase as the binaries' own clocks saw it, plus this process's time around them:
    the daemon compares it with the supervisor's clock, so a binary whose clock was tampered with
    (e.g. an interposed clock_gettime) shows up as `timing_inconsistent`. `step_fd`: a compare job's
    step pipe (one binary only: the driver's rounds pair run i of every solution).
    """
    job.reporter.emit("phase", name="measure")
    started = time.monotonic_ns()
    samples, notes, resolution, warmups, peaks = {}, [], 0, [], []
    binaries_ns = walls_ns = 0
    if step_fd is None:
        watcher = MeasureProgress(job.reporter, job.warmup, job.runs, len(samplers))
    else:
        watcher = Stepping(job.reporter, job.warmup)
    for index, (command, names) in enumerate(samplers):
        left_ms = job.budget_ms - (time.monotonic_ns() - started) / 1e6
        share_ms = left_ms / (len(samplers) - index)
        result, wall_ns = run_sampler(
            command, list(names), job.warmup, job.runs, share_ms, before_run, on_record=watcher.observe, step_fd=step_fd
        )
        watcher.binary_done(len(result.rows))
        binaries_ns += result.elapsed_ns
        walls_ns += wall_ns
        for name in names.values():
            samples.setdefault(name, [])
        resolution = max(resolution, result.resolution_ns)
        peaks.append(result.peak_rss)
        warmups.append(min(job.warmup, len(result.rows)))
        if result.note:
            notes.append(result.note)
        timed = result.rows[job.warmup :]
        for column, name in enumerate(result.names):
            if name in names:
                samples[names[name]] = [row[column] for row in timed]
    count = min((len(values) for values in samples.values()), default=0)
    watcher.finish(count)
    for name, values in samples.items():
        job.reporter.emit("samples", test=name, ns=values[:count])
    elapsed_ns = time.monotonic_ns() - started - walls_ns + binaries_ns
    job.reporter.emit(
        "measured",
        warmup=min(warmups, default=0),
        timerResolutionNs=resolution,
        notes=notes,
        rssPeakBytes=max(peaks, default=None),
        elapsedNs=elapsed_ns,
    )
