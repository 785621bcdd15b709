"""In-container supervisor shared by every runner image.

It is the container's init (PID 1: no `docker run --init`). It reads one JSON job from stdin,
writes the submitted files into the work directory, runs the language's harness
(`/opt/phronosd/harness/run`) with capped output and a deadline, collects the harness's report
events from a private channel, and prints one result frame, sealed with the job's nonce, on stdout.

Why a seal and a private channel: the code under test can print anything, and the container's
stdout is a pipe (this process's fd 1) that the code would reach through /proc/1/fd/1 were this
process dumpable. So the nonce never leaves this process: every line for the daemon carries the
HMAC-SHA256 of its payload keyed with the nonce (`sealed`), which the daemon checks. The code under
test never sees the nonce (the job is read from stdin before the harness starts, and this process
makes itself non-dumpable so /proc/<pid>/mem and fd are closed to it), so it cannot forge a line the
daemon accepts; it can only take one away (then no frame: never a pass).

Why init: the kernel delivers a signal from inside the container to its init only when init handles
it; this process handles none (`ignore_signals`), and `kill(-1)` spares init. So code under test
that runs as the same user as this process (a validation, a timed run) cannot kill or stop the
supervisor either; in a compare job it runs as another user ("Why users"). As init it also inherits
the orphans of the code under test, and reaps those that ended (`reap_orphans`).

Why users: in a compare job each solution runs as a user of its own (`FIRST_SOLUTION_USER` plus its
index), its folders its own (mode 0700). This process starts as root there, holding only the
capabilities to switch users, signal them and hand them their files (phronosd/sandbox.py
`COMPARE_CAPABILITIES`), which no code under test holds (a change to a non-root user clears them, and
no-new-privileges keeps them from coming back). So no solution can signal, trace or open another's
processes, read or plant files in its folders, or write into its step pipe: whatever befalls a
solution's processes is its own doing, or the OOM killer's (`take_turn`).
"""

import contextlib
import ctypes
import errno
import hashlib
import hmac
import json
import os
import random
import secrets
import select
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HARNESS = "/opt/phronosd/harness/run"
WORK_DIR = "/work"
REPORT_LIMIT = 16 * 1024 * 1024
READ_CHUNK = 65536
PR_SET_DUMPABLE = 4
EXIT_GRACE_S = 0.5
CGROUP_V1 = "/sys/fs/cgroup"
# Events forwarded to the daemon as they arrive (job progress), as sealed `:event:<json>` lines on
# stdout: unforgeable like the frame. Control events steer the supervisor (a compare round's steps)
# and are not part of the frame.
LIVE_EVENTS = ("phase", "progress")
CONTROL_EVENTS = ("ready", "stepping", "step_done")
STOP_WAIT_S = 1.0  # a process in uninterruptible sleep stops only when it leaves it
TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")  # CPU times in /proc/<pid>/stat are in ticks
FIRST_SOLUTION_USER = 10000  # a compare job's solution i runs as user and group 10000 + i
STEP_FIFO = "step"  # made in a compare process's scratch folder, unlinked once open (`opened_fifo`)
KILL_ROUNDS = 50  # a process that keeps forking is still bounded by the container's pids limit
MAX_COMPARE_BLOCKS = 64  # a compare job's blocks: the daemon sends a few (a language's compare_processes)
POOLED_ENV = "PHRONOSD_POOLED"  # set on pooled containers: JSON of the language's environment
READY_LINE = b"phronosd-ready\n"  # phronosd/sandbox.py reads these two lines of a pooled container
JOB_TAKEN_LINE = b"phronosd-job\n"
OWN_CHILDREN = set()  # the harnesses this process started: their Popen objects reap them


def ignore_signals():
    """Handle no signal: as the container's init, this process then gets none that the code under test
    sends (Python's own SIGINT handler would let any process of the user raise KeyboardInterrupt here)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def make_non_dumpable():
    """Close /proc/<pid>/{mem,fd,environ} of this process to the code under test (same uid)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def read_job():
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return job


def write_files(files, root=WORK_DIR):
    for name, content in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(content)


def read_first(paths):
    for path in paths:
        try:
            with open(path, encoding="ascii") as handle:
                return handle.read()
        except OSError:
            continue
    return None


def keyed_values(text):
    values = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            values[parts[0]] = int(parts[1])
    return values


def cgroup_snapshot():
    """CPU, throttling and memory figures of this container's cgroup (v1 or v2), as far as readable."""
    snap = {}
    v2_cpu = keyed_values(read_first([CGROUP_V1 + "/cpu.stat"]))
    if "usage_usec" in v2_cpu:
        snap["cpuUsageNs"] = v2_cpu["usage_usec"] * 1000
        snap["userNs"] = v2_cpu.get("user_usec", 0) * 1000
        snap["systemNs"] = v2_cpu.get("system_usec", 0) * 1000
        snap["nrThrottled"] = v2_cpu.get("nr_throttled", 0)
        snap["throttledNs"] = v2_cpu.get("throttled_usec", 0) * 1000
        peak = read_first([CGROUP_V1 + "/memory.peak"])
        events = keyed_values(read_first([CGROUP_V1 + "/memory.events"]))
        snap["oomKills"] = events.get("oom_kill", 0)
    else:
        usage = read_first([CGROUP_V1 + "/cpuacct/cpuacct.usage", CGROUP_V1 + "/cpu,cpuacct/cpuacct.usage"])
        if usage and usage.strip().isdigit():
            snap["cpuUsageNs"] = int(usage)
        stat = keyed_values(read_first([CGROUP_V1 + "/cpuacct/cpuacct.stat", CGROUP_V1 + "/cpu,cpuacct/cpuacct.stat"]))
        ticks = os.sysconf("SC_CLK_TCK")
        if "user" in stat:
            snap["userNs"] = stat["user"] * 1_000_000_000 // ticks
            snap["systemNs"] = stat.get("system", 0) * 1_000_000_000 // ticks
        cpu = keyed_values(read_first([CGROUP_V1 + "/cpu/cpu.stat", CGROUP_V1 + "/cpu,cpuacct/cpu.stat"]))
        if "nr_throttled" in cpu:
            snap["nrThrottled"] = cpu["nr_throttled"]
            snap["throttledNs"] = cpu.get("throttled_time", 0)
        peak = read_first([CGROUP_V1 + "/memory/memory.max_usage_in_bytes"])
        oom = keyed_values(read_first([CGROUP_V1 + "/memory/memory.oom_control"]))
        snap["oomKills"] = oom.get("oom_kill", 0)
    if peak and peak.strip().isdigit():
        snap["memoryPeakBytes"] = int(peak)
    return snap


class Capture:
    """A capped buffer for one child stream."""

    def __init__(self, limit):
        self.limit = limit
        self.data = bytearray()
        self.total = 0

    def add(self, chunk):
        self.total += len(chunk)
        room = self.limit - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        return self.total > self.limit


BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
}


def job_env(job, solution=None):
    """The job's part of the harness's environment (handlers/README.md); `solution`: one entrant of a
    compare job, whose files and options are its own."""
    solution = solution or job
    return {
        "PHRONOSD_MODE": "run" if job["mode"] == "compare" else job["mode"],
        "PHRONOSD_RUNS": str(job.get("runs", 0)),
        "PHRONOSD_WARMUP": str(job.get("warmup", 0)),
        "PHRONOSD_BUDGET_MS": str(job.get("budgetMs", 0)),
        "PHRONOSD_SOLUTION_FILE": solution["solutionFile"],
        "PHRONOSD_TEST_FILE": solution["testFile"],
        "PHRONOSD_OPTIONS": json.dumps(solution.get("options", {})),
    }


def channel_env(channel):
    return {"PHRONOSD_REPORT_FD": str(channel.report_w), "PHRONOSD_TOKEN_FD": str(channel.token_r)}


def exit_notifier(pid):
    """A descriptor that becomes readable once child `pid` has exited: its pidfd; where the kernel has
    no pidfd_open (gVisor before 2024), a pipe written by a thread that waits for the exit without
    reaping the child (its Popen still reaps it and reads its status)."""
    try:
        return os.pidfd_open(pid)
    except OSError as exc:
        if exc.errno != errno.ENOSYS:
            raise
    exited_r, exited_w = os.pipe()

    def wait():
        with contextlib.suppress(ChildProcessError):
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        os.write(exited_w, b"x")
        os.close(exited_w)

    threading.Thread(target=wait, daemon=True).start()
    return exited_r


def kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class ReportChannel:
    """The harness's report channel, authenticated by a per-run token.

    The token travels through a pipe of its own that the harness reads once, before any submitted
    code is loaded, and closes; it is never in an environment, an argument or a file. Only report
    lines that start with it count: code under test that writes to the report fd (it can find the
    number) without the token is ignored, and a suite never counts as finished (`validated`) unless
    the harness said so."""

    def __init__(self):
        self.token = secrets.token_hex(16).encode()
        self.token_r, token_w = os.pipe()
        os.write(token_w, self.token + b"\n")
        os.close(token_w)
        # A socket pair, not a pipe: a pipe can be opened again through /proc/self/fd/<n>, for
        # reading too, by whoever may write to it, so code under test in the harness's process could
        # take the harness's lines off the channel (the token with them, and a failing test's line).
        self.report_r, self.report_w = (end.detach() for end in socket.socketpair())
        self.prefix = self.token + b" "
        self.pending = bytearray()
        self.capture = Capture(REPORT_LIMIT)
        self.rejected = 0

    def child_ends(self):
        return (self.report_w, self.token_r)

    def close_child_ends(self):
        for fd in self.child_ends():
            os.close(fd)

    def feed(self, chunk):
        """Take bytes from the channel; return (events, over the limit)."""
        if self.capture.add(chunk):
            return [], True
        self.pending += chunk
        *lines, rest = self.pending.split(b"\n")
        self.pending = bytearray(rest)
        events = []
        for line in lines:
            event = parse_event(line[len(self.prefix) :]) if line.startswith(self.prefix) else None
            if event is None:
                self.rejected += bool(line.strip())
                continue
            events.append(event)
        return events, False


class Supervision:
    """One harness process watched to its end: its capped output, its report events and its deadlines."""

    STAMPED = ("phase", "measured")  # events the supervisor stamps with its clock and cgroup figures

    def __init__(self, channel, env, extra_fds=(), cwd=WORK_DIR, user=None):
        """Start the harness, as `user` (and its group alone) when given; its job is in `env`, or (a
        pooled container) arrives later (`begin`)."""
        self.channel = channel
        as_user = {} if user is None else {"user": user, "group": user, "extra_groups": []}
        self.proc = subprocess.Popen(
            [HARNESS],
            cwd=cwd,
            env={**BASE_ENV, **channel_env(channel), **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(*channel.child_ends(), *extra_fds),
            start_new_session=True,
            **as_user,
        )
        OWN_CHILDREN.add(self.proc.pid)
        channel.close_child_ends()
        self.exited = exit_notifier(self.proc.pid)
        self.events = []
        self.verdict = None

    def begin(self, job):
        """The job's clock starts now. Each phase has its own deadline, set when the harness
        announces it: compilation (and collection) its language's limit, validation the request's
        timeoutMs, measurement the measuring budget plus a grace."""
        self.started = time.monotonic()
        limit = int(job["outputLimit"])
        self.streams = {self.proc.stdout.fileno(): Capture(limit), self.proc.stderr.fileno(): Capture(limit)}
        timeout_s = job["timeoutMs"] / 1000
        self.phase_s = {
            "compile": job.get("compileTimeoutMs", 0) / 1000,
            "validate": timeout_s,
            "measure": job.get("budgetMs", 0) / 1000 + min(timeout_s, 10.0),
        }
        self.phase = "start"
        self.deadline = self.started + self.phase_s["compile"] + timeout_s
        self.phases = [{"name": "start", "atMs": 0.0, **cgroup_snapshot()}]
        self.open_fds = {*self.streams, self.channel.report_r}
        self.exited_seen = False
        self.live = live_writer(job["nonce"])

    def wait_ready(self):
        """A pooled harness has loaded its runtime and framework: wait for its `ready` event."""
        while True:
            chunk = os.read(self.channel.report_r, READ_CHUNK)
            if not chunk:
                raise RuntimeError("the harness exited before it was ready")
            events, over = self.channel.feed(chunk)
            if over:
                raise RuntimeError("the harness reported too much before it was ready")
            if any(event.get("event") == "ready" for event in events):
                return

    def watch(self, until=None):
        """Read until every pipe is closed, the deadline passes or a cap is reached; with `until`, also
        stop (the harness still running) once an event of that kind arrives."""
        selector = selectors.DefaultSelector()
        for fd in self.open_fds:
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        if not self.exited_seen:
            selector.register(self.exited, selectors.EVENT_READ)
        self.arrived = None
        while self.open_fds and not self.verdict and not (until and self.arrived == until):
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self.verdict = "timeout"
                break
            for key, _ in selector.select(remaining):
                if key.fd == self.exited:
                    # The harness is gone; whatever still holds its pipes open (a background child)
                    # gets a short grace to flush, then is killed with the process group.
                    selector.unregister(self.exited)
                    self.exited_seen = True
                    self.deadline = min(self.deadline, time.monotonic() + EXIT_GRACE_S)
                    continue
                try:
                    chunk = os.read(key.fd, READ_CHUNK)
                except BlockingIOError:  # the code under test reopened the pipe and drained it first
                    continue
                if not chunk:
                    selector.unregister(key.fd)
                    self.open_fds.discard(key.fd)
                elif key.fd == self.channel.report_r:
                    self.take_report(chunk, until)
                elif self.streams[key.fd].add(chunk):
                    self.verdict = "output_limit"
                if self.verdict or (until and self.arrived == until):
                    break
        selector.close()
        if self.verdict == "timeout" and self.proc.poll() is not None:
            self.verdict = None

    def take_report(self, chunk, until=None):
        events, over = self.channel.feed(chunk)
        if over:
            self.verdict = "report_limit"
            return
        for event in events:
            kind = event.get("event")
            if kind in CONTROL_EVENTS:
                self.arrived = kind if kind == until else self.arrived
                continue
            self.events.append(event)
            if kind in self.STAMPED:
                name = event.get("name") if kind == "phase" else "measured"
                self.phases.append({"name": name, "atMs": ms_since(self.started), **cgroup_snapshot()})
            if kind == "phase" and event.get("name") in self.phase_s:
                self.phase = event["name"]
                self.deadline = time.monotonic() + self.phase_s[self.phase]
            if kind in LIVE_EVENTS and self.live is not None:
                self.live(event)

    def finish(self):
        """Stop the harness's process group and return the result frame."""
        if self.verdict:
            kill_group(self.proc)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            kill_group(self.proc)
            self.proc.wait()
        kill_group(self.proc)
        end = cgroup_snapshot()
        self.phases.append({"name": "end", "atMs": ms_since(self.started), **end})
        out, err = self.streams.values()
        code = self.proc.returncode
        return {
            "events": self.events,
            "stdout": out.data.decode("utf-8", "replace"),
            "stderr": err.data.decode("utf-8", "replace"),
            "stdoutBytes": out.total,
            "stderrBytes": err.total,
            "verdict": self.verdict,
            "phase": self.phase,
            "exitCode": code if code is not None and code >= 0 else None,
            "signal": -code if code is not None and code < 0 else None,
            "phases": self.phases,
            "cgroup": end,
            "rejectedReportLines": self.channel.rejected,
        }


def supervise(job):
    """Cold start: the job is known before the harness starts. Returns the result frame (a dict)."""
    write_files(job["files"])
    supervision = Supervision(ReportChannel(), {**job_env(job), **job.get("env", {})})
    supervision.begin(job)
    supervision.watch()
    return supervision.finish()


class Entrant:
    """One process of one solution of a compare job: its own folder, scratch space and harness process
    (solutions usually share module names), run as the solution's own user, measured one timed run at
    a time when the driver says so."""

    def __init__(self, job, index, solution, runs, block_env, user):
        root = tempfile.mkdtemp(prefix=f"{index}-", dir=WORK_DIR)
        scratch = tempfile.mkdtemp(prefix=f"{index}-", dir="/tmp")
        self.folders = (root, scratch)
        write_files(solution["files"], root)
        self.step_r, self.step_w = opened_fifo(os.path.join(scratch, STEP_FIFO), user)
        hand_over(self.folders, user)
        env = {
            **job_env(job, solution),
            **job.get("env", {}),
            **block_env,
            "PHRONOSD_RUNS": str(runs),
            "PHRONOSD_STEP_FD": str(self.step_r),
            "TMPDIR": scratch,
            "HOME": scratch,
        }
        self.supervision = Supervision(ReportChannel(), env, extra_fds=(self.step_r,), cwd=root, user=user)
        self.supervision.begin(job)
        self.name = solution["name"]
        self.stepping = False
        self.oom_kills = 0
        self.foreign_steps = 0
        self.rest = {}  # its tasks when it was last stopped (`stop`)
        self.void_with = None  # the rival with which this entrant's block is left out, and why (`void`)
        self.ran_in_turn_of = None  # the rival in whose turn it ran while stopped (`disqualify`)

    def active(self, action):
        """Run `action` (this entrant alone is running meanwhile) and count the OOM kills in it."""
        before = cgroup_snapshot().get("oomKills", 0)
        try:
            return action()
        finally:
            self.oom_kills += cgroup_snapshot().get("oomKills", 0) - before

    def stop(self):
        """Stop the harness's process group, and wait (at most STOP_WAIT_S) until every thread of its
        processes is stopped: a signal is delivered when its target next runs, and until then it could
        still run during another's turn. Keeps its tasks as they are then (`rest`): `take_turn` tells
        by them whether it ran in another's turn (one that is not stopped by then counts as running:
        a parent in vfork waits, uninterruptibly, for its stopped child, and stalled each stop)."""
        self.signal(signal.SIGSTOP)
        group = self.supervision.proc.pid
        until = time.monotonic() + STOP_WAIT_S
        while True:
            self.rest = group_tasks(group)
            if all(state in b"TtZX" for state, _cpu_ns in self.rest.values()) or time.monotonic() > until:
                return
            time.sleep(0.001)

    def signal(self, signum):
        try:
            os.killpg(self.supervision.proc.pid, signum)
        except ProcessLookupError:
            pass

    def void(self, rival, cause):
        """This entrant measures no more in this block, which is left out of its figures (not its
        failure), and gets the next block: the OOM killer killed a stopped process of this entrant or of
        `rival` during the other's turn (`cause` "oom"; whose memory it was cannot be told, so neither
        is blamed), or `rival` ran during this entrant's turn ("ran"; `disqualify`)."""
        self.void_with = self.void_with or {"rival": rival, "cause": cause}
        self.stepping = False
        kill_group(self.supervision.proc)

    def disqualify(self, rival):
        """A process of this entrant's ran during `rival`'s turn, while it was stopped: it continued
        itself (a stopped process continues on SIGCONT from any source, such as a POSIX timer of its
        own), or it did not stop within STOP_WAIT_S. Its times could then take from the rival's: it is
        measured no more (its failure)."""
        self.ran_in_turn_of = rival
        self.stepping = False
        kill_group(self.supervision.proc)

    def prepare(self):
        """Validate and warm up; a harness that passed says `stepping`, and is stopped until its turn."""
        self.active(lambda: self.supervision.watch(until="stepping"))
        self.stepping = self.supervision.arrived == "stepping"
        if self.stepping:
            self.stop()

    def discard_foreign_steps(self):
        """Take out of the step pipe what was written into it besides the driver's steps: each byte a
        timed run the driver did not ask for, run across a stop (its time taking in the others'
        turns). Only the solution's own code can: its harness's fds are open to its own user alone
        (through /proc/<pid>/fd), and its processes outside the harness's group are killed before any
        other solution's turn. The supervisor keeps the read end for this; the harness is stopped."""
        while select.select([self.step_r], [], [], 0)[0]:
            self.foreign_steps += len(os.read(self.step_r, READ_CHUNK))

    def step(self, deadline):
        """One timed run: continue the harness, let it run once, stop it again. False when it ended."""
        self.discard_foreign_steps()
        self.signal(signal.SIGCONT)
        self.supervision.deadline = deadline
        try:
            os.write(self.step_w, b"\x01")
        except BrokenPipeError:
            self.stepping = False
            return False
        self.active(lambda: self.supervision.watch(until="step_done"))
        self.stepping = self.supervision.arrived == "step_done"
        self.stop()
        return self.stepping

    def finish(self, deadline):
        """No more steps (EOF on the step pipe): the harness reports what it measured and ends."""
        self.discard_foreign_steps()
        os.close(self.step_w)
        os.close(self.step_r)
        self.signal(signal.SIGCONT)
        self.supervision.deadline = deadline

        def to_the_end():
            self.supervision.watch()
            return self.supervision.finish()

        frame = self.active(to_the_end)
        # The cgroup is the container's: only the OOM kills while this entrant alone ran are its own.
        frame["cgroup"]["oomKills"] = self.oom_kills
        if self.foreign_steps:
            message = f"another process wrote {self.foreign_steps} bytes into this solution's step pipe: discarded"
            frame["events"].append({"event": "note", "message": message})
        for folder in self.folders:  # the next blocks' processes need the tmpfs space (build outputs)
            shutil.rmtree(folder, ignore_errors=True)
        return frame


def compare(job):
    """A compare job, in blocks: in each block every solution still passing gets a fresh process of
    its own, validated (and warmed up) in turn; those that passed are then measured in rounds, each
    round running every one of them once in a fresh random order while the others are stopped
    (SIGSTOP), so drift and noise fall on all of them alike. The job's `blockRounds` holds each
    block's rounds (the daemon's split of the runs). Several blocks give every solution
    several processes: a process's own speed level (memory layout, hash seed) is then seen as
    variation, not taken for the solution's (phronosd/stats.py `compare_runs`). The processes of a
    block share a random hash seed (Python's string hashes, hence set and dict orders): a solution's
    work does not differ from another's by its seed, and the seed's effect varies between blocks."""
    count, block_rounds = len(job["solutions"]), checked_block_rounds(job.get("blockRounds"))
    frames = [[] for _ in range(count)]
    progress = MeasureProgress(live_writer(job["nonce"]), sum(block_rounds))
    grace_s = min(job["timeoutMs"] / 1000, 10.0)
    block_budget_s = job.get("budgetMs", 0) / 1000 / len(block_rounds)
    passing = list(range(count))
    for block, order in enumerate(start_orders(count, len(block_rounds))):
        rounds, hash_seed = block_rounds[block], {"PYTHONHASHSEED": str(secrets.randbelow(2**32))}
        entrants = start_block(job, block, [index for index in order if index in passing], rounds, hash_seed)
        measure_block(list(entrants.values()), rounds, block_budget_s, grace_s, progress)
        for index, frame in finish_block(entrants, grace_s).items():
            frames[index].append(frame)
        # A block left out (`void`) was no failure of its solution: it gets the next block.
        passing = [index for index, entrant in entrants.items() if entrant.stepping or entrant.void_with]
    return {"solutions": frames}


def hand_over(folders, user):
    """Make `folders` and everything in them `user`'s (and its group's), each folder last: mkdtemp
    made them root's, mode 0700, so while this runs no other user can enter them or swap a path in
    them for a link (and no process of `user` is left from an earlier block: `finish_block`)."""
    for folder in folders:
        for parent, names, files in os.walk(folder, topdown=False):
            for name in names + files:
                os.chown(os.path.join(parent, name), user, user, follow_symlinks=False)
        os.chown(folder, user, user)


def opened_fifo(path, user):
    """Both ends of a FIFO made at `path` for `user`, then unlinked: an anonymous pipe, but one whose
    owner is `user`, who may then open it again through /proc/self/fd (as the Java and Node harnesses
    do with the step pipe; a pipe the supervisor made is root's, mode 0600, and gVisor refuses to
    chown one). `path` is in a folder still root's alone (`hand_over` comes after)."""
    os.mkfifo(path, 0o600)
    os.chown(path, user, user)
    read = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    write = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
    os.unlink(path)
    os.set_blocking(read, True)
    return read, write


def checked_block_rounds(block_rounds):
    """The job's rounds per block, as the daemon split the runs (phronosd/comparison.py): checked
    anyway, since a malformed job must fail loudly rather than measure something else."""
    if (
        not isinstance(block_rounds, list)
        or not 1 <= len(block_rounds) <= MAX_COMPARE_BLOCKS
        or not all(type(rounds) is int and rounds > 0 for rounds in block_rounds)
    ):
        raise ValueError(f"blockRounds must be a list of 1 to {MAX_COMPARE_BLOCKS} positive integers")
    return block_rounds


def start_orders(count, blocks):
    """Each block's start order of the job's `count` solutions (indexes): rotations of one random order,
    the blocks in a random sequence, so that every solution starts in every position equally often,
    give or take one block. The order is not neutral: in a fixed order, the later of two identical
    micro suites ran 7 to 13 % faster in every block (`bench/RESULTS.md`, session 11); drawn anew for
    each block, one of two solutions would start second in 8 or more of 12 blocks 39 % of the time."""
    first = random.sample(range(count), count)
    orders = [first[block % count :] + first[: block % count] for block in range(blocks)]
    random.shuffle(orders)
    return orders


def start_block(job, block, order, runs, block_env):
    """A fresh process for each solution in `order` (indexes into the job's), validated and warmed up
    one after the other, while the earlier ones are stopped: a turn each (`take_turn`)."""
    entrants = {}
    for index in order:
        solution, user = job["solutions"][index], FIRST_SOLUTION_USER + index
        entrant = Entrant(job, block * len(job["solutions"]) + index, solution, runs, block_env, user)
        take_turn(entrant, list(entrants.values()), entrant.prepare)
        entrants[index] = entrant
    return entrants


def measure_block(entrants, rounds, budget_s, grace_s, progress):
    """The block's rounds: each stepping entrant runs once per round, in a fresh random order."""
    started = time.monotonic()
    for _ in range(rounds):
        active = [entrant for entrant in entrants if entrant.stepping]
        if not active or time.monotonic() - started > budget_s:
            break
        for entrant in random.sample(active, len(active)):
            if entrant.stepping:  # its block not left out earlier in this round
                rivals = [other for other in entrants if other is not entrant]
                take_turn(entrant, rivals, lambda e=entrant: e.step(started + budget_s + grace_s))
        progress.round_done()


def finish_block(entrants, grace_s):
    """Each entrant, in its start order, reports and ends while those still to finish are stopped: a
    turn like the others (`take_turn`), since a process of its solution outlives the harness by
    EXIT_GRACE_S while it holds the output pipes. Returns each entrant's frame, with the rival its
    block was left out with, if it was (`voidWith`)."""
    frames, waiting = {}, list(entrants.values())
    for index, entrant in entrants.items():
        waiting.remove(entrant)
        frames[index] = take_turn(entrant, waiting, lambda e=entrant: e.finish(time.monotonic() + grace_s))
    # Nothing of the block lives on into the next one: the finished entrants stay `stepping` (passing),
    # so the sweeps of their turns kept their groups, and a process may have joined one.
    kill_escaped([])
    for index, entrant in entrants.items():
        frames[index].update(voidWith=entrant.void_with, ranInTurnOf=entrant.ran_in_turn_of)
    return frames


def take_turn(entrant, rivals, action):
    """Run `action` (the entrant's validation, a timed run or its finish) while the rivals are
    stopped, between two sweeps of the container (`kill_escaped`), and see whether a rival ran
    meanwhile: its tasks as its stops in the two sweeps left them (`Entrant.rest`) differ
    (`ran_between`). No code of this entrant's can signal a rival's process (a user per solution),
    so a rival that ran did so by its own doing (a SIGCONT of its own), or did not stop: it is
    disqualified, and this entrant's block is left out (`void`): its times, or a timeout, may be the
    rival's doing. Only a task's end has another cause, the OOM killer, when the container's OOM count
    rose in the turn (counted over the whole turn, sweeps and stops included: a write into the tmpfs,
    memory too, that a stop does not interrupt can end after the harness's own step). Whose memory
    it was cannot be told, so then the block is left out for both, whatever this entrant's turn
    ended in: its failure may be the rival's memory (the OOM killer took the rival's process, and
    the kill counts in this entrant's turn). Returns what `action` returned."""
    oom_kills = cgroup_snapshot().get("oomKills", 0)
    kill_escaped(rivals, running=entrant)
    resting = {rival: rival.rest for rival in rivals if rival.stepping}
    outcome = action()
    kill_escaped([*rivals, entrant])
    oom_acted = cgroup_snapshot().get("oomKills", 0) != oom_kills
    for rival, rest in resting.items():
        if ran_between(rest, rival.rest, ends_excused=oom_acted):
            rival.disqualify(entrant.name)
            entrant.void(rival.name, "ran")
        elif ended_tasks(rest, rival.rest):
            rival.void(entrant.name, "oom")
            entrant.void(rival.name, "oom")
    return outcome


def ran_between(before, after, ends_excused):
    """Whether a process group ran between two looks at its tasks (`group_tasks`), each taken once
    it was told to stop: a task was not stopped at either, a task began, one's CPU time grew, or one
    ended (unless `ends_excused`: the OOM killer ends stopped processes). A stopped task does none
    of these. Tasks are told apart by thread id and start time: an id can be reused."""
    if any(state not in b"TtZX" for state, _cpu_ns in [*before.values(), *after.values()]):
        return True
    if after.keys() - before.keys() or (ended_tasks(before, after) and not ends_excused):
        return True
    return any(task in after and after[task][1] > cpu_ns for task, (_state, cpu_ns) in before.items())


def ended_tasks(before, after):
    """Whether a task that had not ended at the look `before` has ended (or is gone) at `after`."""
    return any(state not in b"ZX" and after.get(task, (b"Z", 0))[0] in b"ZX" for task, (state, _cpu) in before.items())


def group_tasks(group):
    """Per task (thread) of the processes in process group `group`, keyed by thread id and start
    time: its state and its CPU time in ns, from /proc/<pid>/task/<tid>/schedstat (nanoseconds)
    where there is one, else from its stat (ticks: gVisor has no schedstat)."""
    tasks = {}
    for pid, _state, _parent, own in processes():
        if own != group:
            continue
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                path = f"/proc/{pid}/task/{tid}"
                with contextlib.suppress(OSError, ValueError, IndexError):
                    fields = stat_fields(path)
                    tasks[(int(tid), int(fields[19]))] = (fields[0], task_cpu_ns(path, fields))
    return tasks


def stat_fields(path):
    """The fields of the stat of the process or task at `path` (/proc/<pid>, /proc/<pid>/task/<tid>)
    after its name (which may hold spaces and parentheses): state first."""
    with open(f"{path}/stat", "rb") as handle:
        return handle.read().rsplit(b")", 1)[1].split()


def task_cpu_ns(path, fields):
    """The task's CPU time in ns: its schedstat's first field, or its stat's utime and stime."""
    try:
        with open(f"{path}/schedstat", "rb") as handle:
            return int(handle.read().split()[0])
    except FileNotFoundError:
        return (int(fields[11]) + int(fields[12])) * TICK_NS


class MeasureProgress:
    """Live `progress` of a compare job's measuring: rounds done over the runs asked for, about every
    5 %, counted across blocks."""

    def __init__(self, live, runs):
        self.live, self.runs, self.done = live, runs, 0

    def round_done(self):
        self.done += 1
        if self.done % max(1, self.runs // 20) == 0:
            self.live({"event": "progress", "phase": "measure", "runsDone": self.done, "runsTotal": self.runs})


def kill_escaped(entrants, running=None):
    """Kill every process of the container but init (this supervisor), the process groups of the
    entrants still stepping (stopped between their turns) and that of the entrant whose turn begins
    (`running`), and reap the orphans that ended. A solution's process in a session or group of its
    own is not stopped with its harness: it could load the core while another solution is timed.
    Killing one whose child joined its solution's group orphans that group, and the kernel continues
    an orphaned group that has stopped processes (SIGHUP, SIGCONT): the groups that should be stopped
    are stopped again (`Entrant.stop`, which also looks at their tasks)."""
    keep = {entrant.supervision.proc.pid for entrant in entrants if entrant.stepping}
    if running is not None:
        keep.add(running.supervision.proc.pid)
    for _ in range(KILL_ROUNDS):
        strays = [
            pid
            for pid, state, _parent, group in processes()
            if pid != os.getpid() and group not in keep and alive(pid, state)
        ]
        if not strays:
            break
        for pid in strays:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    reap_orphans()
    for entrant in entrants:
        if entrant.stepping and entrant is not running:
            entrant.stop()  # again: a group the kills just orphaned got SIGHUP and SIGCONT


def alive(pid, state):
    """Whether process `pid` (its main thread in `state`) has a task that has not ended: a process
    whose main thread ended shows as a zombie while its other threads run on."""
    if state not in b"ZX":
        return True
    with contextlib.suppress(OSError):
        return any(stat_fields(f"/proc/{pid}/task/{tid}")[0] not in b"ZX" for tid in os.listdir(f"/proc/{pid}/task"))
    return False


def reap_orphans():
    """Reap the ended processes this init inherited from the code under test (not the harnesses: their
    Popen objects reap them, and read their exit status)."""
    for pid, state, parent, _group in processes():
        if state == b"Z" and parent == os.getpid() and pid not in OWN_CHILDREN:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def processes():
    """(pid, state, parent, process group) of every process of the container."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            state, parent, group = stat_fields(f"/proc/{entry}")[:3]
        except (OSError, ValueError, IndexError):
            continue
        yield int(entry), state, int(parent), int(group)


def pooled(language_env):
    """A pooled container: start the harness at once, let it load its runtime and framework, say
    `phronosd-ready` on stdout, then wait for the job on stdin and hand it to the harness through
    the pipe `PHRONOSD_JOB_FD` (a JSON object of the variables a cold harness gets in its
    environment). Pooled containers only validate (README: the warm pool). Returns (job, frame)."""
    job_r, job_w = os.pipe()
    env = {**language_env, "PHRONOSD_MODE": "validate", "PHRONOSD_JOB_FD": str(job_r)}
    supervision = Supervision(ReportChannel(), env, extra_fds=(job_r,))
    os.close(job_r)
    supervision.wait_ready()
    say(READY_LINE)
    job = read_job()
    say(JOB_TAKEN_LINE)
    write_files(job["files"])
    supervision.begin(job)
    with os.fdopen(job_w, "w", encoding="utf-8") as pipe:
        json.dump(job_env(job), pipe)
    supervision.watch()
    return job, supervision.finish()


def parse_event(line):
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def live_writer(nonce):
    def write(event):
        say(sealed(nonce, b":event:" + json.dumps(event, separators=(",", ":")).encode()))

    return write


def sealed(nonce, payload):
    """`payload` as a line for the daemon: `\n<tag><payload>\n`, the tag being the hex HMAC-SHA256 of
    the payload keyed with the job's nonce (phronosd/sandbox.py `unseal` checks it)."""
    tag = hmac.new(nonce.encode(), payload, hashlib.sha256).hexdigest().encode()
    return b"\n" + tag + payload + b"\n"


def say(line):
    sys.stdout.buffer.write(line)
    sys.stdout.buffer.flush()


def ms_since(start):
    return round((time.monotonic() - start) * 1000, 3)


def main():
    ignore_signals()
    make_non_dumpable()
    pool_env = os.environ.get(POOLED_ENV)
    job = None
    try:
        if pool_env is not None:
            job, result = pooled(json.loads(pool_env))
        else:
            job = read_job()
            result = compare(job) if job["mode"] == "compare" else supervise(job)
    except Exception as exc:  # reported to the daemon as an internal error, never swallowed
        result = {"internalError": f"{type(exc).__name__}: {exc}"}
    if job is None:
        sys.exit(f"phronosd supervisor: {result.get('internalError')}")
    frame = json.dumps(result, separators=(",", ":"))
    say(sealed(job["nonce"], frame.encode()))


if __name__ == "__main__":
    main()
