"""In-container supervisor shared by every runner image.

It is the container's main process (under `docker run --init`). It reads one JSON job from stdin,
writes the submitted files into the work directory, runs the language's harness
(`/opt/phronosd/harness/run`) with capped output and a deadline, collects the harness's report
events from a private pipe, and prints one result frame, prefixed by the job's nonce, on stdout.

Why a nonce and a private pipe: the code under test can print anything, and can even write to the
container's stdout through /proc/1/fd/1. It never sees the nonce (the job is read from stdin before
the harness starts, and this process makes itself non-dumpable so /proc/<pid>/mem and fd are closed
to it), so it cannot forge the frame the daemon parses.
"""

import ctypes
import json
import os
import selectors
import signal
import subprocess
import sys
import time

HARNESS = "/opt/phronosd/harness/run"
WORK_DIR = "/work"
REPORT_LIMIT = 16 * 1024 * 1024
READ_CHUNK = 65536
PR_SET_DUMPABLE = 4
EXIT_GRACE_S = 0.5
CGROUP_V1 = "/sys/fs/cgroup"


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


def write_files(files):
    for name, content in files.items():
        path = os.path.join(WORK_DIR, name)
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


def harness_env(job, report_fd):
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PHRONOSD_REPORT_FD": str(report_fd),
        "PHRONOSD_MODE": job["mode"],
        "PHRONOSD_RUNS": str(job.get("runs", 0)),
        "PHRONOSD_WARMUP": str(job.get("warmup", 0)),
        "PHRONOSD_BUDGET_MS": str(job.get("budgetMs", 0)),
        "PHRONOSD_SOLUTION_FILE": job["solutionFile"],
        "PHRONOSD_TEST_FILE": job["testFile"],
        "PHRONOSD_OPTIONS": json.dumps(job.get("options", {})),
    }
    env.update(job.get("env", {}))
    return env


def kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def supervise(job):
    """Run the harness; return the result frame (a dict)."""
    started = time.monotonic()
    limit = int(job["outputLimit"])
    timeout_s = job["timeoutMs"] / 1000
    measure_s = job.get("budgetMs", 0) / 1000 + min(timeout_s, 10.0)
    report_r, report_w = os.pipe()
    proc = subprocess.Popen(
        [HARNESS],
        cwd=WORK_DIR,
        env=harness_env(job, report_w),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(report_w,),
        start_new_session=True,
    )
    os.close(report_w)
    exited = os.pidfd_open(proc.pid)
    streams = {proc.stdout.fileno(): Capture(limit), proc.stderr.fileno(): Capture(limit)}
    report = Capture(REPORT_LIMIT)
    selector = selectors.DefaultSelector()
    for fd in (*streams, report_r):
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    selector.register(exited, selectors.EVENT_READ)
    phases = [{"name": "start", "atMs": 0.0, **cgroup_snapshot()}]
    deadline = started + timeout_s
    events, pending = [], bytearray()
    verdict = None
    open_fds = len(streams) + 1
    while open_fds:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            verdict = "timeout"
            break
        for key, _ in selector.select(remaining):
            if key.fd == exited:
                # The harness is gone; whatever still holds its pipes open (a background child)
                # gets a short grace to flush, then is killed with the process group.
                selector.unregister(exited)
                deadline = min(deadline, time.monotonic() + EXIT_GRACE_S)
                continue
            chunk = os.read(key.fd, READ_CHUNK)
            if not chunk:
                selector.unregister(key.fd)
                open_fds -= 1
                continue
            if key.fd == report_r:
                if report.add(chunk):
                    verdict = "report_limit"
                    break
                pending += chunk
                *lines, rest = pending.split(b"\n")
                pending = bytearray(rest)
                for line in lines:
                    event = parse_event(line)
                    if event is None:
                        continue
                    events.append(event)
                    if event.get("event") == "phase":
                        phases.append({"name": event.get("name"), "atMs": ms_since(started), **cgroup_snapshot()})
                        if event.get("name") == "measure":
                            deadline = time.monotonic() + measure_s
            elif streams[key.fd].add(chunk):
                verdict = "output_limit"
                break
        if verdict:
            break
    if verdict == "timeout" and proc.poll() is not None:
        verdict = None
    if verdict:
        kill_group(proc)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        proc.wait()
    kill_group(proc)
    end = cgroup_snapshot()
    phases.append({"name": "end", "atMs": ms_since(started), **end})
    out, err = streams.values()
    code = proc.returncode
    return {
        "events": events,
        "stdout": out.data.decode("utf-8", "replace"),
        "stderr": err.data.decode("utf-8", "replace"),
        "stdoutBytes": out.total,
        "stderrBytes": err.total,
        "verdict": verdict,
        "exitCode": code if code is not None and code >= 0 else None,
        "signal": -code if code is not None and code < 0 else None,
        "phases": phases,
        "cgroup": end,
    }


def parse_event(line):
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def ms_since(start):
    return round((time.monotonic() - start) * 1000, 3)


def main():
    make_non_dumpable()
    job = read_job()
    nonce = job["nonce"]
    try:
        write_files(job["files"])
        result = supervise(job)
    except Exception as exc:  # reported to the daemon as an internal error, never swallowed
        result = {"internalError": f"{type(exc).__name__}: {exc}"}
    frame = json.dumps(result, separators=(",", ":"))
    out = sys.stdout.buffer
    out.write(b"\n" + nonce.encode() + frame.encode() + b"\n")
    out.flush()


if __name__ == "__main__":
    main()
