// phronosd's test runner, compiled into every test target (`#![test_runner]`, RUSTC_BOOTSTRAP=1).
//
// Without PHRONOSD_SAMPLES_FD it is plain libtest (`test_main_static`: same arguments, same output),
// which validates. With it, the binary measures instead: every selected test body runs warm-up + runs
// times in this process, timed with the monotonic clock, and one JSON line per run goes to that fd
// (the format is in the harness's phronosd_harness.py). Panics are caught as libtest catches them;
// a #[should_panic] test passes by panicking.

extern crate test;

use std::fs::File;
use std::io::Write;
use std::os::unix::io::FromRawFd;
use std::panic;
use std::time::{Duration, Instant};
use test::{ShouldPanic, TestDescAndFn, TestFn};

struct Timed {
    name: String,
    body: fn() -> Result<(), String>,
    should_panic: bool,
}

pub fn run(tests: &[&TestDescAndFn]) {
    match env_number("PHRONOSD_SAMPLES_FD") {
        Some(fd) => measure(tests, unsafe { File::from_raw_fd(fd as i32) }),
        None => test::test_main_static(tests),
    }
}

fn measure(tests: &[&TestDescAndFn], mut out: File) {
    let selected = selected(tests);
    let names: Vec<String> = selected.iter().map(|t| json_string(&t.name)).collect();
    let _ = writeln!(out, "{{\"tests\":[{}],\"timerResolutionNs\":{}}}", names.join(","), resolution_ns());
    panic::set_hook(Box::new(|_| {}));
    let total = env_number("PHRONOSD_WARMUP").unwrap_or(0) + env_number("PHRONOSD_RUNS").unwrap_or(0);
    let budget = Duration::from_millis(env_number("PHRONOSD_BUDGET_MS").unwrap_or(0));
    let started = Instant::now();
    let mut row = vec![0u128; selected.len()];
    let mut run = 0;
    while run < total && started.elapsed() < budget {
        for (slot, timed) in row.iter_mut().zip(&selected) {
            let begin = Instant::now();
            let outcome = panic::catch_unwind(timed.body);
            *slot = begin.elapsed().as_nanos();
            let passed = match outcome {
                Ok(result) => result.is_ok() && !timed.should_panic,
                Err(_) => timed.should_panic,
            };
            if !passed {
                let _ = writeln!(out, "{{\"failed\":{}}}", json_string(&timed.name));
                return;
            }
        }
        let values: Vec<String> = row.iter().map(|ns| ns.to_string()).collect();
        let _ = writeln!(out, "{{\"ns\":[{}]}}", values.join(","));
        run += 1;
    }
}

/// The tests named in PHRONOSD_MEASURE_TESTS, in the binary's order; benches and ignored tests never are.
fn selected(tests: &[&TestDescAndFn]) -> Vec<Timed> {
    let wanted = std::env::var("PHRONOSD_MEASURE_TESTS").unwrap_or_default();
    let wanted: Vec<&str> = wanted.split(',').collect();
    tests
        .iter()
        .filter_map(|t| match t.testfn {
            TestFn::StaticTestFn(body) if !t.desc.ignore && wanted.contains(&t.desc.name.as_slice()) => Some(Timed {
                name: t.desc.name.as_slice().to_string(),
                body,
                should_panic: !matches!(t.desc.should_panic, ShouldPanic::No),
            }),
            _ => None,
        })
        .collect()
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
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
