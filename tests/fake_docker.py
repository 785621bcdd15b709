#!/usr/bin/env python3
"""A stand-in for the docker CLI, for the tests whose subject is the API edge (the `docker_binary`
setting points at this file). Standard library only, so any python3 runs it.

It answers what phronosd calls (`version`, `info`, `images`, `image inspect`, `ps`, `rm`, `events`,
`update`, `run`, pooled or not) in the formats phronosd parses. `run` reads the job from stdin and
prints a result frame shaped like the supervisor's (`handlers/_shared/supervisor.py`,
`Supervision.finish`), sealed with the job's nonce, as if a Python suite had run:

- a test file that is not valid Python is a `compile_error`;
- each `def test_...` is one test; it fails when its body contains `assert False`;
- in mode `run`, every passing test gets one 50 us sample per run, and `measured` reports the
  warm-up (10 for `auto`) and an `elapsedNs` that agrees with the phase stamps;
- a line `# fake-docker: sleep=S` in the tests makes the container take S seconds;
- a line `# fake-docker: linger=S` makes it take S seconds more after its frame (as docker's exit and
  `--rm` removal take some);
- a compare job's frame holds one such frame per solution, each measured as in mode `run`.

State lives in the folder named by `FAKE_DOCKER_DIR`: `images.json` (the images the engine has, as
`{"repo:tag": {label: value}}`; without it, none) and `calls.log`, where each call is appended as one
line, the Python literal of `{"args": [...]}`, with `"job"` for `run`.

Every docker call the daemon makes starts an interpreter on this file, so each command imports only
what it needs (`json` and `re` take longer to import than the interpreter takes to start): `ps` and
`version` import nothing.
"""

import os
import sys

SERVER_VERSION = "27.5.1-fake"
ENGINE = {
    "ServerVersion": SERVER_VERSION,
    "Server.Version": SERVER_VERSION,
    "Client.Version": SERVER_VERSION,
    "CgroupVersion": "2",
    "DockerRootDir": "/var/lib/docker",
    "Runtimes": {"runc": {"path": "runc"}, "runsc": {"path": "/usr/bin/runsc"}},
}
SAMPLE_NS = 50_000
AUTO_WARMUP_DONE = 10
TEST_DEF = r"(?m)^[ \t]*def (test_\w*)\s*\("
SLEEP = r"#\s*fake-docker:\s*sleep=([0-9.]+)"
LINGER = r"#\s*fake-docker:\s*linger=([0-9.]+)"


def state_path(name):
    folder = os.environ.get("FAKE_DOCKER_DIR")
    return os.path.join(folder, name) if folder else None


def record(args, job=None):
    """Append the call to `calls.log` as one line (`repr` escapes newlines and needs no import)."""
    path = state_path("calls.log")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(repr({"args": args, **({"job": job} if job is not None else {})}) + "\n")


def known_images():
    """{"repo:tag": labels} of the images the engine has."""
    import json

    path = state_path("images.json")
    if not path or not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def option(args, name):
    """The value after `name` in `args`, or None."""
    return args[args.index(name) + 1] if name in args[:-1] else None


def render(template):
    """Fill a Go template of `{{.Field}}` and `{{json .Field}}` references from the engine facts."""
    text, rest = "", template
    while "{{" in rest:
        before, _, rest = rest.partition("{{")
        reference, _, rest = rest.partition("}}")
        text += before + fill(reference.split())
    return text + rest


def fill(words):
    """The value of a template reference, as its words: `.Field` or `json .Field`."""
    value = ENGINE.get(words[-1].removeprefix("."), "")
    if words[0] != "json":
        return str(value)
    import json

    return json.dumps(value)


def fail(message, code=1):
    print(message, file=sys.stderr)
    return code


def engine_facts(args):
    template = option(args, "--format")
    print(render(template) if template else f"Server Version: {SERVER_VERSION}")
    return 0


def images(_args):
    """`images --format {{json .}}`: one JSON row per image the engine has."""
    import json

    for tag in known_images():
        repository, name = tag.rsplit(":", 1)
        print(json.dumps({"Repository": repository, "Tag": name, "Size": "1.0MB"}))
    return 0


def image(args):
    """`image inspect [--format '{{json .Config.Labels}}'] NAME...`"""
    import json

    if args[:1] != ["inspect"]:
        return fail(f"fake docker: unsupported: image {' '.join(args)}")
    template = option(args, "--format")
    names = [a for a in args[1:] if a not in ("--format", template)]
    known = known_images()
    missing = [name for name in names if name not in known]
    if missing or not names:
        return fail(f"Error response from daemon: No such image: {missing[0] if missing else ''}")
    if template is None:
        print(json.dumps([{"RepoTags": [name], "Config": {"Labels": known[name]}} for name in names]))
    elif "json .Config.Labels" in template:
        print("\n".join(json.dumps(known[name]) for name in names))
    else:
        return fail(f"fake docker: unsupported format {template!r}")
    return 0


def quiet(_args):
    """`ps`, `rm`, `events`, `update`: no container of a fake run outlives it, none is ever OOM-killed,
    and limits change without a word."""
    return 0


def compile_error(files):
    """The first syntax error of the job's Python files, as a collector would report it, or None."""
    for name, source in files.items():
        if name.endswith(".py"):
            try:
                compile(source, name, "exec")
            except SyntaxError as exc:
                return f"{name}:{exc.lineno}: SyntaxError: {exc.msg}"
    return None


def suite_results(source):
    """(name, passed) for each `def test_` of the source; a body with `assert False` fails."""
    import re

    found = list(re.finditer(TEST_DEF, source))
    ends = [m.start() for m in found[1:]] + [len(source)]
    return [(m.group(1), "assert False" not in source[m.end() : end]) for m, end in zip(found, ends)]


def measure_events(job, passing):
    """The measure phase's events and its length in ms, by the fake harness's own clock."""
    runs = job["runs"]
    warmup = AUTO_WARMUP_DONE if job["warmup"] == "auto" else job["warmup"]
    elapsed_ns = SAMPLE_NS * runs * len(passing) + 1_000_000
    events = [{"event": "phase", "name": "measure"}]
    events += [{"event": "samples", "test": name, "ns": [SAMPLE_NS] * runs} for name in passing]
    events.append({"event": "measured", "warmup": warmup, "timerResolutionNs": 1, "notes": [], "elapsedNs": elapsed_ns})
    return events, elapsed_ns / 1e6


def cgroup_at(at_ms):
    """Cgroup figures at `at_ms`: the container used one core all along, never throttled."""
    return {
        "cpuUsageNs": int(at_ms * 1e6),
        "userNs": int(at_ms * 1e6),
        "systemNs": 0,
        "nrThrottled": 0,
        "throttledNs": 0,
        "memoryPeakBytes": 8 << 20,
        "oomKills": 0,
    }


def harness_events(job):
    """(events, phase stamps) of the suite in the job, as the supervisor would have collected them."""
    events = [{"event": "phase", "name": "compile"}]
    phases = [{"name": "start", "atMs": 0.0}, {"name": "compile", "atMs": 1.0}]
    problem = compile_error(job["files"])
    if problem:
        return events + [{"event": "compile_error", "message": problem}], phases
    results = suite_results(job["files"].get(job["testFile"], ""))
    events.append({"event": "phase", "name": "validate"})
    phases.append({"name": "validate", "atMs": 2.0})
    events += [
        {
            "event": "test",
            "name": name,
            "status": "passed" if passed else "failed",
            "durationMs": SAMPLE_NS / 1e6,
            "message": None if passed else "AssertionError: assert False",
        }
        for name, passed in results
    ]
    events.append({"event": "validated"})
    passing = [name for name, passed in results if passed]
    if job["mode"] == "run" and passing and len(passing) == len(results):
        measured, span_ms = measure_events(job, passing)
        events += measured
        phases += [{"name": "measure", "atMs": 3.0}, {"name": "measured", "atMs": 3.0 + span_ms}]
    return events, phases


def suites(job):
    """The suites of a job: itself, or each solution of a compare job (measured like a `run`)."""
    if job["mode"] != "compare":
        return [job]
    return [{**job, **solution, "mode": "run"} for solution in job["solutions"]]


def frame_of(job):
    """The supervisor's frame; a compare job's holds, per solution, one frame per block (process)."""
    if job["mode"] != "compare":
        return suite_frame(job)
    return {
        "solutions": [[suite_frame({**suite, "runs": runs}) for runs in job["blockRounds"]] for suite in suites(job)]
    }


def suite_frame(job):
    """One suite's frame, in the shape of `Supervision.finish`."""
    events, phases = harness_events(job)
    end_ms = phases[-1]["atMs"] + 1.0
    phases.append({"name": "end", "atMs": end_ms})
    failed = any(e.get("status") == "failed" for e in events) or any(e["event"] == "compile_error" for e in events)
    return {
        "events": events,
        "stdout": "",
        "stderr": "",
        "stdoutBytes": 0,
        "stderrBytes": 0,
        "verdict": None,
        "exitCode": 1 if failed else 0,
        "signal": None,
        "phases": [{**phase, **cgroup_at(phase["atMs"])} for phase in phases],
        "cgroup": cgroup_at(end_ms),
        "rejectedReportLines": 0,
    }


def run(args):
    """`run ... IMAGE`: the job from stdin, the frame on stdout. A pooled container (`--env
    PHRONOSD_POOLED=...`) says it is ready before it reads its job, and that it took it after."""
    import json
    import re
    import time

    image_name = args[-1] if args else ""
    if image_name not in known_images():
        record(["run", *args])
        return fail(f"Unable to find image '{image_name}' locally", 125)
    pooled = any(arg.startswith("PHRONOSD_POOLED=") for arg in args)
    if pooled:
        say("phronosd-ready")
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    record(["run", *args], job)
    if pooled:
        say("phronosd-job")
    tests = [suite["files"].get(suite["testFile"], "") for suite in suites(job)]
    for delay in filter(None, (re.search(SLEEP, text) for text in tests)):
        time.sleep(float(delay.group(1)))
    say("\n" + sealed(job["nonce"], json.dumps(frame_of(job), separators=(",", ":"))))
    for delay in filter(None, (re.search(LINGER, text) for text in tests)):
        time.sleep(float(delay.group(1)))
    return 0


def sealed(nonce, payload):
    """A line as the supervisor seals it (handlers/_shared/supervisor.py `sealed`)."""
    import hashlib
    import hmac

    return hmac.new(nonce.encode(), payload.encode(), hashlib.sha256).hexdigest() + payload


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


COMMANDS = {
    "version": engine_facts,
    "info": engine_facts,
    "images": images,
    "image": image,
    "ps": quiet,
    "rm": quiet,
    "events": quiet,
    "update": quiet,
    "run": run,
}


def main(argv):
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if command != "run":
        record(argv)
    handler = COMMANDS.get(command)
    if handler is None:
        return fail(f"fake docker: unsupported command {command!r}")
    return handler(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
