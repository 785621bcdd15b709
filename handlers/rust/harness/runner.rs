// phronosd's test runner: the crate `phronosd_runner`, compiled once when the image is built and
// linked into every test target as its custom test runner (`#![test_runner(<alias>::run)]`, under a
// name the harness makes for each request).
//
// It runs the tests itself and reports to the harness over a private channel: before any other code
// of the binary runs (an `.preinit_array` entry, ahead of every `.init_array` constructor), it reads
// the channel's token from the one-shot pipe PHRONOSD_TOKEN_FD, closes that pipe, and keeps
// PHRONOSD_RESULTS_FD, where every record is written as `<token> <json>\n`. What the tests print, or
// write to any fd, is not a record; a binary that exits early never sent its end record.
//
// Validation (no PHRONOSD_MEASURE_TESTS): every test, sorted by name as libtest sorts them, runs in a
// thread of its own named after it, its output captured, as libtest runs it; `#[ignore]` is skipped,
// `#[should_panic(expected = ...)]`, tests returning `Result` and `#[bench]` (one iteration) are
// judged as libtest judges them.
// Records: {"started": name}, {"test": name, "status", "durationMs", "message"}, {"end": true}, and
// {"outOfMemory": bytes} when an allocation fails. The output is cargo test's.
//
// Measurement (PHRONOSD_MEASURE_TESTS, one name per line): every named test body runs warm-up + runs
// times in the main thread, timed with the monotonic clock; the records are those documented in
// phronosd_harness.py. Either way the PHRONOSD_* variables leave the environment before a test runs.

#![feature(test, internal_output_capture, alloc_error_hook)]

extern crate test;

use std::any::Any;
use std::ffi::{c_char, c_int, CStr};
use std::fs::File;
use std::io::{self, Read, Write};
use std::mem::ManuallyDrop;
use std::os::unix::io::FromRawFd;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};
use test::{ShouldPanic, TestDescAndFn, TestFn};

const TOKEN_MAX: usize = 64;
const MESSAGE_LIMIT: usize = 8000; // the harness keeps no more of a message
const F_SETFD: c_int = 2;
const FD_CLOEXEC: c_int = 1;

unsafe extern "C" {
    fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
}

/// The report channel, set once by `take_channel` before any other code of the binary runs.
struct Channel {
    token: [u8; TOKEN_MAX],
    token_len: usize,
    fd: c_int,
}

static CHANNEL: OnceLock<Channel> = OnceLock::new();

#[used]
#[unsafe(link_section = ".preinit_array")]
static TAKE_CHANNEL: extern "C" fn(c_int, *const *const c_char, *const *const c_char) = take_channel;

/// The `.preinit_array` entry (the harness checks, by this symbol's name, that it is the binary's only
/// one): reads the token and closes its pipe; the results fd is made close-on-exec, so programs the
/// tests start never hold it.
#[unsafe(export_name = "phronosd_take_channel")]
extern "C" fn take_channel(_argc: c_int, _argv: *const *const c_char, envp: *const *const c_char) {
    let (Some(token_fd), Some(fd)) = (env_fd(envp, b"PHRONOSD_TOKEN_FD="), env_fd(envp, b"PHRONOSD_RESULTS_FD=")) else {
        return;
    };
    let mut token = [0u8; TOKEN_MAX];
    let token_len = read_token(unsafe { File::from_raw_fd(token_fd) }, &mut token);
    unsafe { fcntl(fd, F_SETFD, FD_CLOEXEC) };
    if token_len > 0 {
        let _ = CHANNEL.set(Channel { token, token_len, fd });
    }
}

/// A file descriptor number from the environment the loader passed to `take_channel`.
fn env_fd(envp: *const *const c_char, key: &[u8]) -> Option<c_int> {
    let mut entry = envp;
    while !entry.is_null() && !unsafe { *entry }.is_null() {
        let bytes = unsafe { CStr::from_ptr(*entry) }.to_bytes();
        if let Some(value) = bytes.strip_prefix(key) {
            return std::str::from_utf8(value).ok()?.parse().ok();
        }
        entry = unsafe { entry.add(1) };
    }
    None
}

/// Reads the pipe to its end (the harness wrote one hex line and closed it), then closes it; returns
/// the token's length in `buffer`.
fn read_token(mut pipe: File, buffer: &mut [u8; TOKEN_MAX]) -> usize {
    let mut len = 0;
    while let Ok(read @ 1..) = pipe.read(&mut buffer[len..]) {
        len += read;
    }
    while len > 0 && buffer[len - 1].is_ascii_whitespace() {
        len -= 1;
    }
    len
}

impl Channel {
    /// One write per record, led by a newline: a partial line that the tests left on the fd ends there
    /// (and is dropped) instead of swallowing the record.
    fn send(&self, record: &str) {
        let mut line = Vec::with_capacity(self.token_len + record.len() + 3);
        line.push(b'\n');
        line.extend_from_slice(&self.token[..self.token_len]);
        line.push(b' ');
        line.extend_from_slice(record.as_bytes());
        line.push(b'\n');
        let mut out = ManuallyDrop::new(unsafe { File::from_raw_fd(self.fd) });
        let _ = out.write_all(&line);
    }
}

/// The job, from the PHRONOSD_* variables, which are removed from the environment once read.
struct Job {
    measure: Option<Vec<String>>,
    warmup: u64,
    runs: u64,
    budget: Duration,
    /// A compare job's step pipe: one byte before each timed run (the driver's budget, not `budget`,
    /// ends those), end of file: no more.
    step: Option<File>,
}

impl Job {
    fn take() -> Job {
        let job = Job {
            measure: std::env::var("PHRONOSD_MEASURE_TESTS").ok().map(|names| names.lines().map(String::from).collect()),
            warmup: env_number("PHRONOSD_WARMUP"),
            runs: env_number("PHRONOSD_RUNS"),
            budget: Duration::from_millis(env_number("PHRONOSD_BUDGET_MS")),
            step: std::env::var("PHRONOSD_STEP_FD").ok().and_then(|fd| fd.parse().ok()).map(step_pipe),
        };
        let ours: Vec<_> = std::env::vars_os().map(|(key, _)| key).filter(|key| key.to_string_lossy().starts_with("PHRONOSD_")).collect();
        for key in ours {
            #[allow(unused_unsafe)] // unsafe from edition 2024 on
            unsafe {
                std::env::remove_var(key)
            };
        }
        job
    }
}

/// The step pipe, close-on-exec: programs the tests start never hold it.
fn step_pipe(fd: c_int) -> File {
    unsafe { fcntl(fd, F_SETFD, FD_CLOEXEC) };
    unsafe { File::from_raw_fd(fd) }
}

/// Waits for the driver's next step; false at the end of the pipe.
fn next_step(mut pipe: &File) -> bool {
    let mut byte = [0u8; 1];
    loop {
        match pipe.read(&mut byte) {
            Ok(read) => return read == 1,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
}

fn env_number(name: &str) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(0)
}

pub fn run(tests: &[&TestDescAndFn]) {
    let Some(channel) = CHANNEL.get() else {
        let _ = writeln!(io::stderr(), "this test binary runs only under phronosd's harness (no report channel)");
        std::process::exit(2);
    };
    let job = Job::take();
    std::alloc::set_alloc_error_hook(report_alloc_error);
    let code = match &job.measure {
        Some(names) => measure(channel, &job, &selected(tests, names)),
        None => validate(channel, &runnable(tests)),
    };
    std::process::exit(code);
}

/// Rust's default answer to a failed allocation, reported to the harness first.
fn report_alloc_error(layout: std::alloc::Layout) {
    if let Some(channel) = CHANNEL.get() {
        channel.send(&format!("{{\"outOfMemory\":{}}}", layout.size()));
    }
    let _ = writeln!(io::stderr(), "memory allocation of {} bytes failed", layout.size());
}

/// A test as this runner runs it.
#[derive(Clone)]
struct Runnable {
    name: String,
    body: Body,
    should_panic: ShouldPanic,
    ignore: Option<String>,
}

#[derive(Clone, Copy)]
enum Body {
    Test(fn() -> Result<(), String>),
    Bench(fn(&mut test::Bencher) -> Result<(), String>),
}

impl Body {
    /// One execution; a `#[bench]` runs its iteration once, as `cargo test` runs it.
    fn call(self) -> Result<(), String> {
        match self {
            Body::Test(body) => body(),
            Body::Bench(body) => test::bench::run_once(body),
        }
    }

    /// One execution with its panic caught; a returned `Err` counts as a panic with that message,
    /// as libtest folds it.
    fn call_caught(self) -> Result<(), Box<dyn Any + Send>> {
        match panic::catch_unwind(AssertUnwindSafe(|| self.call())) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(Box::new(message)),
            Err(payload) => Err(payload),
        }
    }
}

/// Every test of the binary, sorted by name.
fn runnable(tests: &[&TestDescAndFn]) -> Vec<Runnable> {
    let mut runnable: Vec<Runnable> = tests
        .iter()
        .filter_map(|t| {
            let body = match t.testfn {
                TestFn::StaticTestFn(body) => Body::Test(body),
                TestFn::StaticBenchFn(body) => Body::Bench(body),
                _ => return None, // dynamic tests come only from a custom harness, never from #[test]
            };
            Some(Runnable {
                name: t.desc.name.as_slice().to_string(),
                body,
                should_panic: t.desc.should_panic,
                ignore: t.desc.ignore.then(|| t.desc.ignore_message.unwrap_or("").to_string()),
            })
        })
        .collect();
    runnable.sort_by(|a, b| a.name.cmp(&b.name));
    runnable
}

/// The tests named in PHRONOSD_MEASURE_TESTS, in the binary's order; ignored ones never are.
fn selected(tests: &[&TestDescAndFn], names: &[String]) -> Vec<Runnable> {
    runnable(tests).into_iter().filter(|t| t.ignore.is_none() && names.contains(&t.name)).collect()
}

#[derive(PartialEq)]
enum Status {
    Passed,
    Failed,
    Skipped,
}

struct Outcome {
    status: Status,
    duration: Duration,
    message: Option<String>,
}

fn validate(channel: &Channel, tests: &[Runnable]) -> i32 {
    let started = Instant::now();
    say(format_args!("\nrunning {} test{}\n", tests.len(), if tests.len() == 1 { "" } else { "s" }));
    let mut outcomes = Vec::new();
    for test in tests {
        channel.send(&format!("{{\"started\":{}}}", json_string(&test.name)));
        let outcome = match &test.ignore {
            Some(reason) => Outcome { status: Status::Skipped, duration: Duration::ZERO, message: Some(reason.clone()).filter(|r| !r.is_empty()) },
            None => run_in_own_thread(test),
        };
        say(format_args!("test {}{} ... {}\n", test.name, should_panic_label(test), status_label(&outcome)));
        channel.send(&test_record(&test.name, &outcome));
        outcomes.push((test, outcome));
    }
    let failed = print_summary(&outcomes, started.elapsed());
    channel.send("{\"end\":true}");
    if failed { 101 } else { 0 }
}

/// Runs a test in a thread named after it, as libtest does (a panic message names the test), or in
/// this thread when no thread can be started.
fn run_in_own_thread(test: &Runnable) -> Outcome {
    let owned = test.clone();
    match thread::Builder::new().name(test.name.clone()).spawn(move || run_captured(&owned)) {
        Ok(handle) => handle.join().unwrap_or_else(|_| failed_outcome("the test's thread could not be joined")),
        Err(_) => run_captured(test),
    }
}

fn failed_outcome(message: &str) -> Outcome {
    Outcome { status: Status::Failed, duration: Duration::ZERO, message: Some(message.to_string()) }
}

/// One execution of a test with its output captured; the captured output (a panic's message and
/// location included) is the failure message, followed by libtest's reason where it gives one.
fn run_captured(test: &Runnable) -> Outcome {
    let captured = Arc::new(Mutex::new(Vec::new()));
    io::set_output_capture(Some(captured.clone()));
    let started = Instant::now();
    let result = test.body.call_caught();
    let duration = started.elapsed();
    io::set_output_capture(None);
    let output = String::from_utf8_lossy(&captured.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    match judge(test.should_panic, result) {
        Ok(()) => Outcome { status: Status::Passed, duration, message: None },
        Err(reason) => {
            let reason = reason.map(|r| format!("note: {r}"));
            let message = [Some(output.trim()), reason.as_deref()].into_iter().flatten().filter(|s| !s.is_empty()).collect::<Vec<_>>().join("\n");
            Outcome { status: Status::Failed, duration, message: Some(message).filter(|m| !m.is_empty()) }
        }
    }
}

/// libtest's verdict on a test's result (`calc_result`): Err(libtest's reason, if it gives one).
fn judge(should_panic: ShouldPanic, result: Result<(), Box<dyn Any + Send>>) -> Result<(), Option<String>> {
    match (should_panic, result) {
        (ShouldPanic::No, Ok(())) | (ShouldPanic::Yes, Err(_)) => Ok(()),
        (ShouldPanic::YesWithMessage(expected), Err(payload)) => {
            let text = payload.downcast_ref::<String>().map(|s| s.as_str()).or_else(|| payload.downcast_ref::<&'static str>().copied());
            match text {
                Some(text) if text.contains(expected) => Ok(()),
                Some(text) => Err(Some(format!(
                    "panic did not contain expected string\n      panic message: `{text:?}`,\n expected substring: `{expected:?}`"
                ))),
                None => Err(Some(format!("expected panic with string value,\n found non-string value\n     expected substring: `{expected:?}`"))),
            }
        }
        (ShouldPanic::Yes | ShouldPanic::YesWithMessage(_), Ok(())) => Err(Some("test did not panic as expected".to_string())),
        (ShouldPanic::No, Err(_)) => Err(None),
    }
}

fn test_record(name: &str, outcome: &Outcome) -> String {
    let status = match outcome.status {
        Status::Passed => "passed",
        Status::Failed => "failed",
        Status::Skipped => "skipped",
    };
    let message = outcome.message.as_deref().map(|m| json_string(truncated(m))).unwrap_or_else(|| "null".to_string());
    format!(
        "{{\"test\":{},\"status\":\"{status}\",\"durationMs\":{:.3},\"message\":{message}}}",
        json_string(name),
        outcome.duration.as_secs_f64() * 1000.0
    )
}

fn truncated(text: &str) -> &str {
    let mut end = text.len().min(MESSAGE_LIMIT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn should_panic_label(test: &Runnable) -> &'static str {
    match test.should_panic {
        ShouldPanic::No => "",
        _ => " - should panic",
    }
}

fn status_label(outcome: &Outcome) -> String {
    match (&outcome.status, &outcome.message) {
        (Status::Passed, _) => "ok".to_string(),
        (Status::Failed, _) => "FAILED".to_string(),
        (Status::Skipped, Some(reason)) => format!("ignored, {reason}"),
        (Status::Skipped, None) => "ignored".to_string(),
    }
}

/// cargo test's closing lines: the failures' output, their names, the counts. True if any failed.
fn print_summary(outcomes: &[(&Runnable, Outcome)], elapsed: Duration) -> bool {
    let failures: Vec<_> = outcomes.iter().filter(|(_, o)| o.status == Status::Failed).collect();
    if !failures.is_empty() {
        say(format_args!("\nfailures:\n\n"));
        for (test, outcome) in &failures {
            say(format_args!("---- {} stdout ----\n{}\n\n", test.name, outcome.message.as_deref().unwrap_or("")));
        }
        say(format_args!("\nfailures:\n"));
        for (test, _) in &failures {
            say(format_args!("    {}\n", test.name));
        }
    }
    let count = |status: Status| outcomes.iter().filter(|(_, o)| o.status == status).count();
    say(format_args!(
        "\ntest result: {}. {} passed; {} failed; {} ignored; 0 measured; 0 filtered out; finished in {:.2}s\n\n",
        if failures.is_empty() { "ok" } else { "FAILED" },
        count(Status::Passed),
        failures.len(),
        count(Status::Skipped),
        elapsed.as_secs_f64()
    ));
    !failures.is_empty()
}

/// Writes to the real stdout (never captured); a closed stdout is not an error here.
fn say(text: std::fmt::Arguments) {
    let _ = io::stdout().write_fmt(text);
}

fn measure(channel: &Channel, job: &Job, tests: &[Runnable]) -> i32 {
    let names: Vec<String> = tests.iter().map(|t| json_string(&t.name)).collect();
    channel.send(&format!("{{\"tests\":[{}],\"timerResolutionNs\":{}}}", names.join(","), resolution_ns()));
    panic::set_hook(Box::new(|_| {}));
    let total = job.warmup + job.runs;
    let started = Instant::now();
    let mut row = vec![0u128; tests.len()];
    let mut run = 0;
    'runs: while run < total {
        let stepped = run >= job.warmup && job.step.is_some();
        if stepped && !job.step.as_ref().is_some_and(next_step) {
            break;
        }
        if !stepped && started.elapsed() >= job.budget {
            break;
        }
        for (slot, test) in row.iter_mut().zip(tests) {
            let begin = Instant::now();
            let result = test.body.call_caught();
            *slot = begin.elapsed().as_nanos();
            if judge(test.should_panic, result).is_err() {
                channel.send(&format!("{{\"failed\":{}}}", json_string(&test.name)));
                break 'runs;
            }
        }
        let values: Vec<String> = row.iter().map(|ns| ns.to_string()).collect();
        channel.send(&format!("{{\"ns\":[{}]}}", values.join(",")));
        run += 1;
        if stepped {
            channel.send(&format!("{{\"step\":{}}}", run - job.warmup));
        }
    }
    channel.send(&format!("{{\"end\":true,\"elapsedNs\":{}}}", started.elapsed().as_nanos()));
    0
}

/// The smallest step observed between two readings of the monotonic clock.
fn resolution_ns() -> u128 {
    (0..200)
        .map(|_| {
            let first = Instant::now();
            let mut next = Instant::now();
            while next == first {
                next = Instant::now();
            }
            (next - first).as_nanos()
        })
        .min()
        .unwrap_or(0)
}

fn json_string(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if (c as u32) < 0x20 => quoted.push_str(&format!("\\u{:04x}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}
