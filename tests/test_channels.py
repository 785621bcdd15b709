"""The channels that carry a verdict, attacked by the code under test (issue #12): the harness's report
channel and the test binaries' results channel (sockets: a pipe can be opened again through
/proc/self/fd for reading, and its lines, the token with them, taken off it), and the container's
stdout, where the supervisor's lines for the daemon go (under docker-init, /proc/1/fd/1 was a pipe
that the code under test could open for reading: the lines are sealed with the nonce, never carry it;
the supervisor is now init itself, non-dumpable, so /proc/1/fd is closed).

The fast tests check the channels and the seal in this process; the others run each language's
attack in a real container and assert the framework's own counts."""

from __future__ import annotations

import errno
import hashlib
import hmac
import importlib.util
import json
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import HANDLERS, compare, post, run, statuses, validate
from runtimes import reopens_harness_pipes

from phronosd.sandbox import LiveEvents, ends_with_frame, extract_frame

pytestmark = pytest.mark.each_runtime  # also under gVisor in CI (tests/runtimes.py)


def load_shared(name: str, path: Path):
    """A module of the images' `/opt/phronosd` (handlers/_shared), importable by its name as there."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


supervisor = load_shared("supervisor", HANDLERS / "_shared" / "supervisor.py")
pyharness = load_shared("phronosd_harness", HANDLERS / "_shared" / "pyharness" / "phronosd_harness.py")


# ---------------------------------------------------------------------------------------------------
# In this process: what the sockets refuse, what they carry


def reopen(fd: int, flags: int) -> int:
    return os.open(f"/proc/self/fd/{fd}", flags)


def test_a_pipe_can_be_read_through_proc_which_is_the_attack():
    """The premise: the write end of a pipe, opened again by its /proc path, reads the pipe."""
    read_end, write_end = os.pipe()
    thief = reopen(write_end, os.O_RDONLY)
    try:
        os.write(write_end, b"a line with the token\n")
        assert os.read(thief, 64) == b"a line with the token\n"
    finally:
        for fd in (read_end, write_end, thief):
            os.close(fd)


@pytest.mark.parametrize("channel", ["report", "results"])
def test_a_channel_cannot_be_opened_through_proc(channel):
    ends = supervisor.ReportChannel() if channel == "report" else pyharness.PrivateChannel()
    child_end, own_end = (ends.report_w, ends.report_r) if channel == "report" else (ends.results_w, ends.results_r)
    try:
        for fd in (child_end, own_end):
            for flags in (os.O_RDONLY, os.O_WRONLY):
                with pytest.raises(OSError) as refused:
                    reopen(fd, flags)
                assert refused.value.errno == errno.ENXIO
    finally:
        for fd in (child_end, own_end, ends.token_r):
            os.close(fd)


def token_of(channel) -> bytes:
    with os.fdopen(channel.token_r, "rb") as pipe:
        return pipe.readline().strip()


def read_events(channel) -> list[dict]:
    """Everything the supervisor's end of `channel` gets until every writer closed theirs."""
    events = []
    while chunk := os.read(channel.report_r, supervisor.READ_CHUNK):
        taken, over = channel.feed(chunk)
        assert not over
        events += taken
    os.close(channel.report_r)
    return events


def test_a_long_samples_line_arrives_whole(monkeypatch):
    """A `samples` event of a long measurement (a million runs): many socket buffers in one line."""
    monkeypatch.setattr(pyharness, "make_non_dumpable", lambda: None)  # this process is pytest's
    channel = supervisor.ReportChannel()
    reporter = pyharness.Reporter(channel.report_w, token_of(channel).decode())
    ns = list(range(1_000_000))
    writer = threading.Thread(target=lambda: (reporter.emit("samples", test="t", ns=ns), reporter.stream.close()))
    writer.start()
    events = read_events(channel)
    writer.join()
    assert events == [{"event": "samples", "test": "t", "ns": ns}]
    assert channel.rejected == 0


def test_concurrent_writers_never_cut_into_each_others_events():
    """Harness threads (and the code under test) write to one channel at once: every event of at most
    4096 bytes (what the Jest and Java harnesses cut a `test` event to) arrives whole."""
    channel = supervisor.ReportChannel()
    line_start = b"\n" + token_of(channel) + b" "
    writers, per_writer = 8, 200

    def write(index: int) -> None:
        for number in range(per_writer):
            event = {"event": "test", "name": f"w{index}.{number}", "message": ""}
            padding = 4096 - len(line_start) - len(json.dumps(event).encode()) - 1
            event["message"] = "x" * padding
            line = line_start + json.dumps(event).encode() + b"\n"
            assert len(line) == 4096
            assert os.write(channel.report_w, line) == len(line)

    threads = [threading.Thread(target=write, args=(index,)) for index in range(writers)]
    for thread in threads:
        thread.start()
    done = threading.Thread(target=lambda: ([t.join() for t in threads], os.close(channel.report_w)))
    done.start()
    events = read_events(channel)
    done.join()
    assert sorted(e["name"] for e in events) == sorted(f"w{i}.{n}" for i in range(writers) for n in range(per_writer))
    assert channel.rejected == 0


def test_the_results_channel_reads_to_the_end_of_the_binarys_records():
    channel = pyharness.PrivateChannel()
    token = token_of(channel).decode()
    with os.fdopen(channel.results_w, "w") as results:
        results.write(f"\n{token} " + '{"tests": ["a"]}\nnot a record\n')
        results.write(f"\n{'0' * 32} " + '{"end": true}\n' + f"\n{token} " + '{"end": true}\n')
    assert list(channel.records()) == [{"tests": ["a"]}, {"end": True}]
    assert channel.rejected == 2


# ---------------------------------------------------------------------------------------------------
# The seal of the supervisor's lines on the container's stdout

NONCE = "0123456789abcdef" * 2
FRAME = {"events": [{"event": "validated", "tests": 0}], "verdict": None}


def frame_line(frame: dict) -> bytes:
    return supervisor.sealed(NONCE, json.dumps(frame).encode())


def test_the_daemon_reads_the_supervisors_sealed_frame_and_the_nonce_never_shows():
    line = frame_line(FRAME)
    assert NONCE.encode() not in line
    assert extract_frame(b"phronosd-ready\n" + line, NONCE) == FRAME


FORGED = {"events": [{"event": "test", "name": "forged", "status": "passed"}, {"event": "validated", "tests": 1}]}


@pytest.mark.parametrize(
    "after",
    [
        b"\n" + NONCE.encode() + json.dumps(FORGED).encode() + b"\n",  # the nonce, as a line once carried it
        frame_line(FORGED).replace(b'"passed"', b'"failed"'),  # a sealed line changed
        frame_line(FRAME)[:65] + json.dumps(FORGED).encode() + b"\n",  # a tag with another payload
        supervisor.sealed("f" * 32, json.dumps(FORGED).encode()),  # sealed with a guessed nonce
        supervisor.sealed(NONCE, b":event:" + json.dumps(FORGED).encode()),  # a live event is no frame
    ],
    ids=["nonce-in-clear", "changed-payload", "stolen-tag", "guessed-nonce", "event-as-frame"],
)
def test_a_line_written_after_the_frame_without_the_seal_is_not_the_frame(after):
    """Written to /proc/1/fd/1 after the supervisor's frame (the daemon takes the last sealed one)."""
    assert extract_frame(frame_line(FRAME) + after, NONCE) == FRAME


def test_only_a_sealed_frame_that_ends_stdout_answers_before_the_container_ends():
    """The daemon answers as soon as stdout ends with the frame; any other ending waits for the
    container's end, and then the frame is read as before."""
    line = frame_line(FRAME)
    assert ends_with_frame(bytearray(b"phronosd-ready\n" + line), NONCE)
    assert not ends_with_frame(bytearray(line[:-1]), NONCE)  # its line not ended yet
    assert not ends_with_frame(bytearray(line + b"written after it"), NONCE)
    assert not ends_with_frame(bytearray(supervisor.sealed("f" * 32, json.dumps(FORGED).encode())), NONCE)
    assert not ends_with_frame(bytearray(supervisor.sealed(NONCE, b":event:{}")), NONCE)


def test_live_events_count_only_under_their_seal():
    seen: list[dict] = []
    live = LiveEvents(NONCE, seen.append)
    progress = {"event": "progress", "runsDone": 1}
    payload = b":event:" + json.dumps(progress).encode()
    tag = hmac.new(NONCE.encode(), payload, hashlib.sha256).hexdigest().encode()
    live.feed(b"\n" + NONCE.encode() + payload + b"\n")  # the nonce in clear
    live.feed(b"\n" + tag + payload.replace(b"1", b"9") + b"\n")  # changed
    live.feed(frame_line(FRAME))  # a frame
    assert seen == []
    live.feed(supervisor.sealed(NONCE, payload)[:40])
    live.feed(supervisor.sealed(NONCE, payload)[40:])
    assert seen == [progress]


# ---------------------------------------------------------------------------------------------------
# In real containers: the submitted code reopens every pipe and socket of its process through
# /proc/self/fd, for reading and writing, and relays what it reads with `failed` turned into `passed`.
# A test of the suite checks in-band that the attack ran: the channel refused it (ENXIO), while a
# pipe of the attacker's own could be reopened (so a pipe channel would have been read).


@dataclass(frozen=True)
class Attack:
    solution: str
    header: str  # the test file up to its tests
    right: str
    wrong: str
    attack_ran: str
    names: tuple[str, str, str]  # right, wrong, attack_ran as the framework names them

    def tests(self, with_wrong: bool) -> str:
        return self.header + self.right + (self.wrong if with_wrong else "") + self.attack_ran


PYTHON = Attack(
    solution="""import ctypes
import os
import threading

REFUSED = []
CONTROL = []


def relay(source, sink):
    pending = b""
    while chunk := os.read(source, 65536):
        *lines, pending = (pending + chunk).split(b"\\n")
        for line in lines:
            if b"{" in line and b"forged" not in line:
                forged = line.replace(b"failed", b"passed").replace(b"{", b'{"forged": 1, ', 1)
                os.write(sink, b"\\n" + forged + b"\\n")


def channel_like(fd):
    try:
        return fd > 2 and os.readlink(f"/proc/self/fd/{fd}").startswith(("pipe:", "socket:"))
    except OSError:
        return False


def pipe_reopens():
    read_end, write_end = os.pipe()
    again = os.open(f"/proc/self/fd/{read_end}", os.O_WRONLY)
    os.write(again, b"x")
    return os.read(read_end, 1) == b"x"


def steal():
    ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: /proc/self/fd is ours again
    for fd in [int(name) for name in os.listdir("/proc/self/fd")]:
        if not channel_like(fd):
            continue
        try:
            source = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY)
            sink = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY)
        except OSError as exc:
            REFUSED.append(exc.errno)
            continue
        threading.Thread(target=relay, args=(source, sink), daemon=True).start()
    CONTROL.append(pipe_reopens())


steal()


def answer():
    return 42
""",
    header="import errno\n\nfrom solution import CONTROL, REFUSED, answer\n\n",
    right="\ndef test_right():\n    assert answer() == 42\n\n",
    wrong="\ndef test_wrong():\n    assert answer() == 0\n\n",
    attack_ran="\ndef test_attack_ran():\n    assert errno.ENXIO in REFUSED\n    assert CONTROL == [True]\n",
    names=("test_right", "test_wrong", "test_attack_ran"),
)

JAVASCRIPT = Attack(
    solution="""const fs = require('fs');
const net = require('net');

const refused = [];
let control = false;

function relay(source, sink) {
  let pending = '';
  const socket = new net.Socket({ fd: source, readable: true, writable: false });
  socket.unref();
  socket.on('error', () => {});
  socket.on('data', (chunk) => {
    const lines = (pending + chunk.toString('utf8')).split('\\n');
    pending = lines.pop();
    for (const line of lines) {
      if (line.includes('{') && !line.includes('forged')) {
        fs.writeSync(sink, `\\n${line.replace(/failed/g, 'passed').replace('{', '{"forged":1,')}\\n`);
      }
    }
  });
}

function channelLike(fd) {
  try {
    return fd > 2 && /^(pipe|socket):/.test(fs.readlinkSync(`/proc/self/fd/${fd}`));
  } catch {
    return false;
  }
}

for (const fd of fs.readdirSync('/proc/self/fd').map(Number).filter(channelLike)) {
  const path = `/proc/self/fd/${fd}`;
  try {
    relay(fs.openSync(path, fs.constants.O_RDONLY), fs.openSync(path, fs.constants.O_WRONLY));
  } catch (error) {
    refused.push(error.code);
  }
}
try {
  fs.closeSync(fs.openSync('/proc/self/fd/1', fs.constants.O_RDONLY)); // stdout, a pipe: it reopens
  control = true;
} catch {
  control = false;
}

module.exports = { answer: () => 42, refused, pipeControl: () => control };
""",
    header="const { answer, refused, pipeControl } = require('./solution');\n\n",
    right="test('right', () => expect(answer()).toBe(42));\n",
    wrong="test('wrong', () => expect(answer()).toBe(0));\n",
    attack_ran="test('attack ran', () => {\n  expect(refused).toContain('ENXIO');\n  expect(pipeControl()).toBe(true);\n});\n",
    names=("right", "wrong", "attack ran"),
)

CPP = Attack(
    solution="""#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <string>
#include <sys/prctl.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {
std::atomic<int> refused{0};
std::atomic<bool> control{false};

void relay(int source, int sink) {
  std::string pending;
  char chunk[65536];
  for (ssize_t n; (n = read(source, chunk, sizeof chunk)) > 0;) {
    pending.append(chunk, n);
    for (size_t end; (end = pending.find('\\n')) != std::string::npos; pending.erase(0, end + 1)) {
      std::string line = pending.substr(0, end);
      if (line.find('{') == std::string::npos || line.find("forged") != std::string::npos) continue;
      for (size_t at; (at = line.find("failed")) != std::string::npos;) line.replace(at, 6, "passed");
      line.replace(line.find('{'), 1, "{\\"forged\\":1,");
      line = "\\n" + line + "\\n";
      if (write(sink, line.data(), line.size()) < 0) return;
    }
  }
}

bool channel_like(int fd) {
  char target[64] = {};
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  return fd > 2 && readlink(path.c_str(), target, sizeof target - 1) > 0 &&
         (strncmp(target, "pipe:", 5) == 0 || strncmp(target, "socket:", 7) == 0);
}

bool pipe_reopens() {
  int ends[2];
  if (pipe(ends) != 0) return false;
  int again = open(("/proc/self/fd/" + std::to_string(ends[0])).c_str(), O_WRONLY);
  char got = 0;
  return again >= 0 && write(again, "x", 1) == 1 && read(ends[0], &got, 1) == 1 && got == 'x';
}

void steal() {
  prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  std::vector<int> fds;
  DIR* listing = opendir("/proc/self/fd");
  while (dirent* entry = readdir(listing)) {
    if (entry->d_name[0] != '.') fds.push_back(atoi(entry->d_name));
  }
  closedir(listing);
  for (int fd : fds) {
    if (!channel_like(fd)) continue;
    std::string path = "/proc/self/fd/" + std::to_string(fd);
    int source = open(path.c_str(), O_RDONLY);
    if (source < 0) {
      refused += errno == ENXIO;
      continue;
    }
    int sink = open(path.c_str(), O_WRONLY);
    if (sink >= 0) std::thread(relay, source, sink).detach();
  }
  control = pipe_reopens();
}
}  // namespace

int answer() {
  static bool started = (steal(), true);
  return started ? 42 : 0;
}
int channel_refusals() { return refused; }
bool pipe_control() { return control; }
""",
    header="#include <gtest/gtest.h>\n\nint answer();\nint channel_refusals();\nbool pipe_control();\n\n",
    right="TEST(Channel, Right) { EXPECT_EQ(answer(), 42); }\n",
    wrong="TEST(Channel, Wrong) { EXPECT_EQ(answer(), 0); }\n",
    attack_ran=(
        "TEST(Channel, AttackRan) {\n  answer();\n  EXPECT_GE(channel_refusals(), 1);\n"
        "  EXPECT_TRUE(pipe_control());\n}\n"
    ),
    names=("Channel.Right", "Channel.Wrong", "Channel.AttackRan"),
)

GO = Attack(
    solution="""package solution

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

var (
	once    sync.Once
	refused atomic.Int32
	control atomic.Bool
)

func relay(source, sink *os.File) {
	chunk := make([]byte, 65536)
	pending := ""
	for {
		n, err := source.Read(chunk)
		if n <= 0 || err != nil {
			return
		}
		lines := strings.Split(pending+string(chunk[:n]), "\\n")
		pending = lines[len(lines)-1]
		for _, line := range lines[:len(lines)-1] {
			if strings.Contains(line, "{") && !strings.Contains(line, "forged") {
				forged := strings.Replace(strings.ReplaceAll(line, "failed", "passed"), "{", `{"forged":1,`, 1)
				sink.Write([]byte("\\n" + forged + "\\n"))
			}
		}
	}
}

func channelLike(fd int) bool {
	target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	return fd > 2 && err == nil && (strings.HasPrefix(target, "pipe:") || strings.HasPrefix(target, "socket:"))
}

func pipeReopens() bool {
	r, w, err := os.Pipe()
	if err != nil {
		return false
	}
	defer w.Close()
	defer r.Close()
	again, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(r.Fd())), os.O_WRONLY, 0)
	if err != nil {
		return false
	}
	defer again.Close()
	got := make([]byte, 1)
	_, werr := again.Write([]byte("x"))
	n, rerr := r.Read(got)
	return werr == nil && rerr == nil && n == 1 && got[0] == 'x'
}

func steal() {
	syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_DUMPABLE, 1, 0)
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, entry := range entries {
		fd, _ := strconv.Atoi(entry.Name())
		if !channelLike(fd) {
			continue
		}
		path := "/proc/self/fd/" + entry.Name()
		source, err := os.OpenFile(path, os.O_RDONLY, 0)
		if err != nil {
			if errors.Is(err, syscall.ENXIO) {
				refused.Add(1)
			}
			continue
		}
		if sink, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			go relay(source, sink)
		}
	}
	control.Store(pipeReopens())
}

func Answer() int {
	once.Do(steal)
	return 42
}

func ChannelRefusals() int { return int(refused.Load()) }

func PipeControl() bool { return control.Load() }
""",
    header='package solution\n\nimport "testing"\n\n',
    right='func TestRight(t *testing.T) {\n\tif Answer() != 42 {\n\t\tt.Fatal("not 42")\n\t}\n}\n\n',
    wrong='func TestWrong(t *testing.T) {\n\tif Answer() != 0 {\n\t\tt.Fatal("not 0")\n\t}\n}\n\n',
    attack_ran=(
        "func TestAttackRan(t *testing.T) {\n\tAnswer()\n\tif ChannelRefusals() < 1 {\n"
        '\t\tt.Fatal("no channel refused to be reopened")\n\t}\n\tif !PipeControl() {\n'
        '\t\tt.Fatal("a pipe could not be reopened")\n\t}\n}\n'
    ),
    names=("TestRight", "TestWrong", "TestAttackRan"),
)

RUST = Attack(
    solution="""use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static START: Once = Once::new();
static REFUSED: AtomicUsize = AtomicUsize::new(0);
static CONTROL: AtomicBool = AtomicBool::new(false);
const ENXIO: i32 = 6;

fn relay(mut source: File, mut sink: File) {
    let mut pending = String::new();
    let mut chunk = vec![0u8; 65536];
    while let Ok(n) = source.read(&mut chunk) {
        if n == 0 {
            return;
        }
        pending.push_str(&String::from_utf8_lossy(&chunk[..n]));
        while let Some(end) = pending.find('\\n') {
            let line: String = pending.drain(..=end).collect();
            let line = line.trim_end_matches('\\n');
            if line.contains('{') && !line.contains("forged") {
                let forged = line.replace("failed", "passed").replacen('{', "{\\"forged\\":1,", 1);
                let _ = sink.write_all(format!("\\n{forged}\\n").as_bytes());
            }
        }
    }
}

fn channel_like(fd: u32) -> bool {
    let target = fs::read_link(format!("/proc/self/fd/{fd}")).map(|t| t.to_string_lossy().into_owned());
    fd > 2 && target.is_ok_and(|t| t.starts_with("pipe:") || t.starts_with("socket:"))
}

fn pipe_reopens() -> bool {
    let Ok(mut child) = Command::new("true").stdout(Stdio::piped()).spawn() else {
        return false;
    };
    let mut out = child.stdout.take().expect("a pipe");
    let again = OpenOptions::new().write(true).open(format!("/proc/self/fd/{}", out.as_raw_fd()));
    let _ = child.wait();
    let written = again.is_ok_and(|mut pipe| pipe.write_all(b"x").is_ok());
    let mut got = [0u8; 1];
    written && out.read(&mut got).ok() == Some(1) && got == *b"x"
}

fn steal() {
    let fds: Vec<u32> = fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds.into_iter().filter(|fd| channel_like(*fd)) {
        let path = format!("/proc/self/fd/{fd}");
        match File::open(&path) {
            Err(error) if error.raw_os_error() == Some(ENXIO) => {
                REFUSED.fetch_add(1, Ordering::SeqCst);
            }
            Err(_) => {}
            Ok(source) => {
                if let Ok(sink) = OpenOptions::new().write(true).open(&path) {
                    std::thread::spawn(move || relay(source, sink));
                }
            }
        }
    }
    CONTROL.store(pipe_reopens(), Ordering::SeqCst);
}

pub fn answer() -> u32 {
    START.call_once(steal);
    42
}

pub fn channel_refusals() -> usize {
    REFUSED.load(Ordering::SeqCst)
}

pub fn pipe_control() -> bool {
    CONTROL.load(Ordering::SeqCst)
}
""",
    header="",
    right="#[test]\nfn right() {\n    assert_eq!(answer(), 42);\n}\n\n",
    wrong="#[test]\nfn wrong() {\n    assert_eq!(answer(), 0);\n}\n\n",
    attack_ran=(
        "#[test]\nfn attack_ran() {\n    answer();\n    assert!(channel_refusals() >= 1);\n"
        "    assert!(pipe_control());\n}\n"
    ),
    names=("right", "wrong", "attack_ran"),
)

ATTACKS = {"python": PYTHON, "javascript": JAVASCRIPT, "cpp": CPP, "go": GO, "rust": RUST}


@pytest.mark.parametrize("language", list(ATTACKS))
async def test_reading_the_channel_through_proc_does_not_turn_a_failure_into_a_pass(client, require_image, language):
    require_image(language)
    attack = ATTACKS[language]
    result = await validate(client, language, attack.solution, attack.tests(with_wrong=True))
    right, wrong, attack_ran = attack.names
    assert statuses(result) == {right: "passed", wrong: "failed", attack_ran: "passed"}, (
        result["status"],
        result["message"],
        [(t["name"], t["message"]) for t in result["tests"] if t["status"] != "passed"],
        result["output"][-2000:],
    )
    assert (result["status"], result["testsPassed"], result["testsFailed"], result["totalTests"]) == ("failed", 2, 1, 3)


@pytest.mark.parametrize("language", list(ATTACKS))
async def test_reading_the_channel_through_proc_takes_no_measured_run(client, require_image, language):
    """In mode `run` the attack runs again while measured (C++, Go, Rust: in the measuring binary, whose
    records are the runs' times): every run asked for arrives."""
    require_image(language)
    attack = ATTACKS[language]
    result = await run(client, language, attack.solution, attack.tests(with_wrong=False), runs=20, warmup=2)
    assert result["status"] == "passed", (result["message"], result["tests"], result["output"][-2000:])
    measurement = result["measurement"]
    assert measurement is not None and measurement["runs"] == 20, (measurement, result["notes"])
    assert {entry["name"] for entry in measurement["perTest"]} == {attack.names[0], attack.names[2]}


async def test_a_child_that_keeps_the_report_channel_open_does_not_hold_up_the_verdict(client, require_image):
    """The harness ends while a process the tests started (in a session of its own, out of the
    harness's process group) still holds the report channel: its end of file never comes, the
    supervisor waits a short grace after the harness's exit and reports."""
    require_image("python")
    tests = (
        "import os, time\nfrom solution import answer\n\n\ndef test_leaves_a_child():\n"
        "    if os.fork() == 0:\n        os.setsid()\n        time.sleep(1000)\n        os._exit(0)\n"
        "    assert answer() == 42\n"
    )
    result = await validate(client, "python", "def answer():\n    return 42\n", tests, timeoutMs=10000)
    assert (result["status"], result["testsPassed"], result["totalTests"]) == ("passed", 1, 1), result
    assert result["timings"]["totalMs"] < 8000, result["timings"]


# The container's stdout: a process the solution leaves behind opens init's /proc/1/fd/1 (a pipe)
# for reading and copies what passes through it without taking it (tee(2) in a busy loop), and
# at the first line that starts with a hex key (a nonce, as lines once carried it, or now a seal)
# writes a passing frame under that key and kills the supervisor, so that its frame is the last one.
STDOUT_THIEF = """import ctypes
import os
import re
import signal
import time

KEY = re.compile(rb"\\n([0-9a-f]{32,64})(?=[:{])")
FORGED = (
    b'{"events":[{"event":"phase","name":"validate"},{"event":"test","name":"test_forged","status":"passed",'
    b'"durationMs":1.0,"message":null},{"event":"validated","tests":1}],"stdout":"","stderr":"","stdoutBytes":0,'
    b'"stderrBytes":0,"verdict":null,"phase":"validate","exitCode":0,"signal":null,'
    b'"phases":[{"name":"start","atMs":0.0},{"name":"validate","atMs":1.0},{"name":"end","atMs":2.0}],'
    b'"cgroup":{},"rejectedReportLines":0}'
)
SUPERVISOR = os.getppid()  # the solution is imported in the harness, the supervisor's child
SPLICE_F_NONBLOCK = 2


def peek_at_the_container_stdout():
    tee = ctypes.CDLL(None, use_errno=True).tee
    stdout = os.open("/proc/1/fd/1", os.O_RDONLY | os.O_NONBLOCK)
    sink = os.open("/proc/1/fd/1", os.O_WRONLY)
    copy_r, copy_w = os.pipe()
    until = time.monotonic() + 30
    while time.monotonic() < until:
        if tee(stdout, copy_w, 65536, SPLICE_F_NONBLOCK) <= 0:
            continue
        keys = set(KEY.findall(os.read(copy_r, 65536)))
        for key in keys:
            os.write(sink, b"\\n" + key + FORGED + b"\\n")
        if keys:
            os.kill(SUPERVISOR, signal.SIGKILL)
            return


def leave_a_thief_behind():
    middle = os.fork()
    if middle:
        os.waitpid(middle, 0)
        return
    os.setsid()
    if os.fork() == 0:
        try:
            peek_at_the_container_stdout()
        finally:
            os._exit(0)
    os._exit(0)


leave_a_thief_behind()


def answer():
    return 42
"""


async def test_a_frame_forged_on_the_container_stdout_is_never_the_verdict(client, container_runtime, require_image):
    """Without the seal the thief's frame, under the nonce it read from a live event, was the last frame
    the daemon saw; under docker-init it could also kill the supervisor. Now the supervisor is init:
    its /proc/1/fd is closed to the code (a test of the suite checks that in-band; gVisor leaves it
    open, so there the thief runs and its unsealed frame is ignored) and it cannot be killed, so its
    own frame is the verdict, with the suite's exact counts."""
    require_image("python")
    tests = (
        "import os\n\nfrom solution import answer\n\n\ndef test_right():\n    assert answer() == 42\n\n\n"
        "def test_wrong():\n    assert answer() == 0\n\n\n"
        "def test_the_container_stdout_is_closed():\n"
        "    try:\n        os.open('/proc/1/fd/1', os.O_RDONLY)\n    except PermissionError:\n        return\n"
        "    raise AssertionError('the container stdout opened')\n"
    )
    result = await validate(client, "python", STDOUT_THIEF, tests, timeoutMs=10000)
    assert result["status"] == "failed" and "test_forged" not in statuses(result), result
    closed = "failed" if reopens_harness_pipes(container_runtime) else "passed"
    assert statuses(result) == {
        "test_right": "passed",
        "test_wrong": "failed",
        "test_the_container_stdout_is_closed": closed,
    }, result


# A compare job: a rival that would reach a dumpable harness's fds (the JVM's) through /proc/<pid>/fd
# and write step bytes into its step pipe while it is stopped (it could while every solution ran under
# one user).
STEP_INJECTOR = """import java.io.*;
import java.nio.file.*;

public class Solution {
    static boolean injected;

    public static long answer() {
        if (!injected) {
            long self = ProcessHandle.current().pid();
            ProcessHandle.allProcesses()
                    .filter(other -> other.pid() != self)
                    .filter(other -> other.info().commandLine().orElse("").contains("phronosd.Main"))
                    .forEach(other -> {
                        injected = true;
                        writeIntoItsPipes(other);
                    });
        }
        return 42;
    }

    static void writeIntoItsPipes(ProcessHandle other) {
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/" + other.pid() + "/fd"))) {
            for (Path fd : fds) {
                if (Integer.parseInt(fd.getFileName().toString()) > 2
                        && Files.readSymbolicLink(fd).toString().startsWith("pipe:")) {
                    try (OutputStream pipe = new FileOutputStream(fd.toFile())) {
                        pipe.write(new byte[1000]);
                    } catch (IOException notWritable) {
                        // not a pipe it reads
                    }
                }
            }
        } catch (IOException | RuntimeException closed) {
            // not readable
        }
    }
}
"""
HONEST = "public class Solution {\n    public static long answer() {\n        return 42;\n    }\n}\n"
SHARED_TESTS = (
    "import static org.junit.jupiter.api.Assertions.assertEquals;\n\nimport org.junit.jupiter.api.Test;\n\n"
    "public class SolutionTest {\n    @Test\n    void answers() {\n        assertEquals(42, Solution.answer());\n    }\n}\n"
)


async def test_a_rival_cannot_write_steps_into_a_stopped_harness(client, require_image):
    """The rival, once the other JVM of its block is there (stopped, after its warm-up or between its
    turns: the block's processes start in a random order), tries to write 1000 bytes into every pipe
    of it, each a timed run of it that the driver did not ask for. Until session 13 it could (one user
    for every solution), and the driver took the bytes out before each turn (a note said so); now the
    JVM's fds are another user's: nothing gets in, and the honest solution has its 10 runs."""
    require_image("java")
    body = {
        "language": "java",
        "tests": SHARED_TESTS,
        "runs": 10,
        "warmup": 2,
        "solutions": [{"name": "honest", "solution": HONEST}, {"name": "rival", "solution": STEP_INJECTOR}],
    }
    result = await post(client, "/api/execute/compare", body)
    by_name = {entry["name"]: entry for entry in result["solutions"]}
    honest = by_name["honest"]
    assert honest["status"] == by_name["rival"]["status"] == "passed", result
    assert honest["measurement"] is not None and honest["measurement"]["runs"] == 10, honest
    for entry in by_name.values():
        assert not any("step pipe" in note for note in entry["notes"]), entry["notes"]


# A compare job: a solution's code that signals every process of the container it sees but its own
# (each solution runs as a user of its own), the supervisor (init) first.
SABOTEUR = """import os
import signal

REFUSED, REACHED = set(), set()


def add(a, b):
    own = os.getuid()
    for name in ["1", *os.listdir("/proc")]:
        try:
            if not name.isdigit() or (name != "1" and os.stat(f"/proc/{name}").st_uid == own):
                continue
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
                os.kill(int(name), signum)
            REACHED.add(name)
        except PermissionError:
            REFUSED.add(name)
        except ProcessLookupError:  # gone meanwhile
            pass
    print(f"signals refused at {len(REFUSED)} processes, delivered to {sorted(REACHED)}")
    return a + b
"""
HONEST_ADD = "def add(a, b):\n    return a + b\n"
ADD_TESTS = "from solution import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"


def assert_both_measured(result, first, second, runs):
    """Both solutions passed, every run of every block measured (none left out), and both ranked."""
    for name in (first, second):
        entry = result["byName"][name]
        assert entry["status"] == "passed" and entry["measurement"]["runs"] == runs, entry
        assert not any("left out" in note for note in entry["measurement"]["notes"]), entry
    assert set(result["ranking"]) == {first, second} and result["comparison"] is not None, result


async def test_a_solution_cannot_signal_its_rival_or_the_supervisor(client, require_image):
    """Each solution runs as a user of its own: the saboteur's SIGTERM, SIGINT and SIGKILL to init and
    to every process of the rival (stopped, or validating) are refused, under gVisor too (which would
    deliver SIGKILL to init from the same user). Until this, such kills left blocks out for both, and a
    pending SIGTERM went unseen under gVisor (the rival ended in its own turn, the saboteur ranked
    alone)."""
    require_image("python")
    result = await compare(client, "python", ADD_TESTS, {"honest": HONEST_ADD, "saboteur": SABOTEUR}, runs=18)
    saboteur = result["byName"]["saboteur"]
    assert "signals refused at " in saboteur["output"] and "delivered to []" in saboteur["output"], saboteur
    assert "signals refused at 0 " not in saboteur["output"], saboteur
    assert_both_measured(result, "honest", "saboteur", 18)


# A compare job: a solution that looks into every folder of the container but its own, after checking
# that it holds no capability (the supervisor, root there, held a few to switch to its user).
PEEKER = """import os

SEEN = []


def unprivileged():
    with open("/proc/self/status") as status:
        caps = {line.split()[0]: int(line.split()[1], 16) for line in status if line.startswith("Cap")}
    try:
        os.setuid(0)
    except PermissionError:
        held = any(caps.get(name) for name in ("CapPrm:", "CapEff:", "CapAmb:"))  # gVisor has no CapAmb
        return os.getuid() != 0 and os.getgroups() == [] and not held
    return False


def add(a, b):
    own = os.getuid()
    for top in ("/work", "/tmp"):
        for name in os.listdir(top):
            path = os.path.join(top, name)
            if os.stat(path).st_uid == own:
                continue
            try:
                SEEN.append((path, os.listdir(path)))
            except PermissionError:
                SEEN.append((path, "refused"))
    print("seen:", SEEN)
    return a + b if unprivileged() and all(what == "refused" for _, what in SEEN) else 0
"""


async def test_a_solution_holds_no_capability_and_cannot_look_into_its_rivals_folders(client, require_image):
    """The rival's folder (its solution, the harness's build output) and scratch space are its own
    user's, mode 0700: the peeker, whose test fails if it can list any of them, or holds a capability
    or can become root, passes, and saw some."""
    require_image("python")
    result = await compare(client, "python", ADD_TESTS, {"honest": HONEST_ADD, "peeker": PEEKER}, runs=6)
    peeker = result["byName"]["peeker"]
    assert peeker["status"] == "passed", peeker
    assert "'refused')" in peeker["output"], peeker


# A compare job: a solution's process that outlives its harness. It holds the output pipes, so the
# supervisor gives it EXIT_GRACE_S once the harness has reported and ended; then it kills every process
# of the sandbox but its own group's and init: the rival's, stopped until its own finish.
LAST_WORD = """import os
import signal
import time


def kill_the_rivals_once_the_harness_has_ended():
    harness, group = os.getpid(), os.getpgid(0)
    if os.fork():
        return
    while os.getppid() == harness:
        time.sleep(0.002)
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and int(name) != 1 and os.getpgid(int(name)) != group:
                os.kill(int(name), signal.SIGKILL)
        except OSError:  # gone meanwhile
            pass
    os._exit(0)


kill_the_rivals_once_the_harness_has_ended()
print("waiting for the harness to end")


def add(a, b):
    return a + b
"""


async def test_a_kill_after_its_harness_ended_reaches_no_rival(client, require_image):
    """The attacker's process outlives its harness (it holds the output pipes for EXIT_GRACE_S) and then
    kills every process of the container outside its group: refused at the rival's (its own user),
    whether that is stopped for the attacker's finish or its last timed turn."""
    require_image("python")
    result = await compare(client, "python", ADD_TESTS, {"honest": HONEST_ADD, "last-word": LAST_WORD}, runs=18)
    assert "waiting for the harness to end" in result["byName"]["last-word"]["output"], result
    assert_both_measured(result, "honest", "last-word", 18)


# A POSIX timer (timer_create, SIGEV_SIGNAL) in Python: the start of a solution that arms one.
POSIX_TIMER = """import ctypes
import os
import signal
import time


class SigEvent(ctypes.Structure):
    _fields_ = [("value", ctypes.c_void_p), ("signo", ctypes.c_int), ("notify", ctypes.c_int), ("pad", ctypes.c_byte * 48)]


class TimeSpec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]


class TimerSpec(ctypes.Structure):
    _fields_ = [("interval", TimeSpec), ("value", TimeSpec)]


def arm_timer(signum, first_ns, every_ns=0):
    libc, timer = ctypes.CDLL(None, use_errno=True), ctypes.c_void_p()
    event = SigEvent(signo=signum, notify=0)  # SIGEV_SIGNAL
    assert libc.timer_create(time.CLOCK_MONOTONIC, ctypes.byref(event), ctypes.byref(timer)) == 0
    spec = TimerSpec(interval=TimeSpec(0, every_ns), value=TimeSpec(0, first_ns))
    assert libc.timer_settime(timer, 0, ctypes.byref(spec), None) == 0
"""

TIMER_FRAMER = (
    POSIX_TIMER
    + """

def leave_a_child_that_kills_itself_later(after_ns):
    if os.fork():
        return
    arm_timer(signal.SIGKILL, after_ns)
    time.sleep(1000)


for tenth in range(1, 9):
    leave_a_child_that_kills_itself_later(tenth * 100_000_000)
print("timers armed")


def add(a, b):
    return a + b
"""
)


async def test_a_solution_that_kills_itself_while_stopped_frames_no_rival(client, require_image):
    """The framer's children each arm a timer (timer_create) that sends them SIGKILL 0.1 to 0.8 s after
    its import: a stopped process then dies during whatever turn runs. Before session 12 the driver
    disqualified the honest solution whose turn it was and ranked the framer alone; in session 12 such a
    block was left out for both; in session 13 (a user per solution) both were measured in full. Now a
    process that ends while stopped for a rival's turn has acted in it (an exit runs on the core), and
    so disqualifies its own solution, unless all ended in the framer's own turns: the honest one is
    measured either way."""
    require_image("python")
    result = await compare(client, "python", ADD_TESTS, {"honest": HONEST_ADD, "framer": TIMER_FRAMER}, runs=36)
    framer, honest = result["byName"]["framer"], result["byName"]["honest"]
    assert "timers armed" in framer["output"], framer
    assert honest["status"] == "passed" and honest["measurement"]["runs"] > 0, honest
    if framer["status"] != "passed":
        assert framer["status"] == "runtime_error" and "during honest's turn" in framer["message"], framer


# A compare job: a solution that would frame a rival. Its process X (a group of its own, killed by the
# driver's sweep between turns) has a child Y that joined the solution's own stopped group and dies with
# X (a parent-death signal): were Y counted as a process of that group killed during the next turn, the
# rival whose turn it was would have been taken for the killer until session 12. (X's death also
# orphans the group, and the kernel sends an orphaned group with stopped processes SIGHUP, which the
# harness here ignores, and SIGCONT, after which the driver stops the group again.)
FRAMER = """import ctypes
import os
import signal
import time

PR_SET_PDEATHSIG = 1
signal.signal(signal.SIGHUP, signal.SIG_IGN)


def leave_a_process_that_dies_with_its_parent():
    group = os.getpgid(0)
    if os.fork():
        return
    os.setpgid(0, 0)
    if os.fork() == 0:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        os.setpgid(0, group)
        time.sleep(1000)
    time.sleep(1000)


leave_a_process_that_dies_with_its_parent()
print("framing set up")


def add(a, b):
    return a + b
"""


async def test_a_process_that_dies_with_a_swept_parent_frames_no_rival(client, require_image):
    """The framer's child in its own group dies when the sweep kills its parent; that is nobody's turn's
    doing: the driver counts only processes that descend from a harness through its own group."""
    require_image("python")
    result = await compare(client, "python", ADD_TESTS, {"framer": FRAMER, "honest": HONEST_ADD}, runs=36)
    framer, honest = result["byName"]["framer"], result["byName"]["honest"]
    assert "framing set up" in framer["output"], framer
    for entry in (framer, honest):
        assert entry["status"] == "passed", entry
        assert entry["measurement"]["runs"] == 36, (entry["name"], entry["measurement"]["processRuns"])
        assert not any("killed during the turn" in note for note in entry["measurement"]["notes"]), entry
    assert set(result["ranking"]) == {"framer", "honest"} and result["comparison"] is not None, result


# A compare job: a solution whose process continues itself while it is stopped for a rival's turn (a
# SIGCONT from its own POSIX timer, every millisecond, handled: a stopped process resumes on SIGCONT
# from any source) and then loads the core while its harness is stopped: in the rival's turns only.
CONTINUER = (
    POSIX_TIMER
    + """

def load_the_core_in_the_rivals_turns():
    harness = os.getpid()
    if os.fork():
        return
    signal.signal(signal.SIGCONT, lambda *_: None)  # ignored (its default), Linux does not continue on it
    arm_timer(signal.SIGCONT, 1_000_000, 1_000_000)
    while True:
        try:
            with open(f"/proc/{harness}/stat", "rb") as stat:
                stopped = stat.read().rsplit(b")", 1)[1].split()[0] == b"T"
        except OSError:  # the harness has ended
            os._exit(0)
        until = time.monotonic() + 0.001
        while stopped and time.monotonic() < until:
            pass
        if not stopped:
            time.sleep(0.001)


load_the_core_in_the_rivals_turns()
print("continuing itself")


def work():
    return sum(range(300_000))
"""
)
HONEST_WORK = "def work():\n    return sum(range(300_000))\n"
WORK_TESTS = "from solution import work\n\n\ndef test_work():\n    assert work() == 44999850000\n"


async def test_a_solution_that_continues_itself_while_stopped_is_not_measured(client, require_image):
    """The continuer's child arms a timer that sends it SIGCONT every millisecond, and spins while the
    harness is stopped: the rival's timed runs shared the core with it, and the continuer ranked first
    (session 13). The driver sees a stopped group's CPU time grow during another's turn: the continuer
    is not measured (`runtime_error`), and the rival's block of that turn is left out; it is measured
    in the blocks after."""
    require_image("python")
    result = await compare(client, "python", WORK_TESTS, {"honest": HONEST_WORK, "continuer": CONTINUER}, runs=36)
    continuer, honest = result["byName"]["continuer"], result["byName"]["honest"]
    assert "continuing itself" in continuer["output"], continuer
    assert continuer["status"] == "runtime_error" and continuer["measurement"] is None, continuer
    assert "during honest's turn" in continuer["message"], continuer
    assert honest["status"] == "passed" and 0 < honest["measurement"]["runs"] < 36, honest
    assert any("continuer ran" in note for note in honest["measurement"]["notes"]), honest
    assert result["ranking"] == ["honest"] and result["comparison"] is None, result
