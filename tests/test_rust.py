"""Rust end to end: real app, real containers, real cargo and phronosd's test runner."""

from __future__ import annotations

import pytest
from helpers import example, read_job_events, run, statuses, validate

pytestmark = pytest.mark.each_runtime  # also under gVisor in CI (tests/runtimes.py)

FIB = "pub fn fib(n: u32) -> u64 {\n    if n < 2 { n as u64 } else { fib(n - 1) + fib(n - 2) }\n}\n"

UNIT_SUITE = """#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        for (n, want) in [(0, 0), (1, 1), (10, 55)] {
            assert_eq!(fib(n), want, "fib({n})");
        }
    }

    #[test]
    fn wrong() {
        assert_eq!(fib(3), 3);
    }

    #[test]
    fn panics() {
        let empty: Vec<u64> = Vec::new();
        let _ = empty[fib(5) as usize];
    }

    #[test]
    #[should_panic(expected = "boom")]
    fn expected_panic() {
        panic!("boom");
    }

    #[test]
    #[ignore]
    fn ignored() {}

    #[test]
    fn returns_result() -> Result<(), String> {
        if fib(2) == 1 { Ok(()) } else { Err("fib(2)".into()) }
    }
}
"""

INTEGRATION_SUITE = """#[test]
fn ten() {
    assert_eq!(fib(10), 55);
}

#[test]
#[should_panic]
fn out_of_bounds() {
    let one = [1];
    let _ = one[fib(3) as usize + 5];
}
"""


def unit_tests(*bodies: str) -> str:
    inner = "\n\n".join("    #[test]\n    " + body for body in bodies)
    return "#[cfg(test)]\nmod tests {\n    #[allow(unused_imports)]\n    use super::*;\n\n" + inner + "\n}\n"


@pytest.fixture(autouse=True)
def rust_image(require_image):
    require_image("rust")


async def test_counts_unit_tests(client):
    result = await validate(client, "rust", FIB, UNIT_SUITE)
    assert result["status"] == "failed", result["output"]
    assert statuses(result) == {
        "tests::table": "passed",
        "tests::wrong": "failed",
        "tests::panics": "failed",
        "tests::expected_panic": "passed",
        "tests::ignored": "skipped",
        "tests::returns_result": "passed",
    }
    messages = {t["name"]: t["message"] for t in result["tests"]}
    assert "left: 2" in messages["tests::wrong"] and "right: 3" in messages["tests::wrong"]
    assert "index out of bounds" in messages["tests::panics"]
    assert "src/solution_test.rs:" in messages["tests::panics"]
    for line in (
        "test tests::expected_panic - should panic ... ok",
        "test tests::ignored ... ignored",
        "---- tests::wrong stdout ----",
    ):
        assert line in result["output"]
    assert "test result: FAILED. 3 passed; 2 failed; 1 ignored" in result["output"]


async def test_should_panic_with_the_wrong_message_and_a_returned_error_fail_as_in_libtest(client):
    tests = unit_tests(
        '#[should_panic(expected = "boom")]\n    fn other_panic() { panic!("bang"); }',
        "#[should_panic]\n    fn no_panic() {}",
        'fn returns_error() -> Result<(), String> { Err(format!("fib(3) = {}", fib(3))) }',
    )
    result = await validate(client, "rust", FIB, tests)
    assert result["status"] == "failed", result["output"]
    messages = {t["name"]: t["message"] for t in result["tests"]}
    assert "panic did not contain expected string" in messages["tests::other_panic"]
    assert "bang" in messages["tests::other_panic"]
    assert "test did not panic as expected" in messages["tests::no_panic"]
    assert 'Error: "fib(3) = 2"' in messages["tests::returns_error"]


async def test_example_passes_with_alias(client):
    solution, tests = example("rust")
    result = await validate(client, "rs", solution, tests)
    assert result["status"] == "passed", result["output"]
    assert result["testsPassed"] == result["totalTests"] == 7


async def test_integration_tests_and_the_solutions_own_tests_are_summed(client):
    solution = (
        FIB
        + "\n#[cfg(test)]\nmod own {\n    #[test]\n    fn own_test() {\n        assert_eq!(super::fib(4), 3);\n    }\n}\n"
    )
    result = await validate(client, "rust", solution, INTEGRATION_SUITE)
    assert result["status"] == "passed", result["output"]
    assert statuses(result) == {"ten": "passed", "out_of_bounds": "passed", "own::own_test": "passed"}


async def test_doc_tests_are_not_run(client):
    solution = "/// ```\n/// assert_eq!(solution::fib(3), 999);\n/// ```\n" + FIB
    result = await validate(client, "rust", solution, INTEGRATION_SUITE)
    assert result["status"] == "passed", result["output"]
    assert result["totalTests"] == 2


@pytest.mark.parametrize(
    "solution, tests, expected",
    [
        ("pub fn fib(n: u32) -> u64 {\n    n +\n}\n", UNIT_SUITE, "src/lib.rs:3"),
        (FIB, unit_tests("fn x() { assert_eq!(fibonacci(1), 1); }"), "cannot find function `fibonacci`"),
        (FIB, "#[test]\nfn x() { assert_eq!(fibonacci(1), 1); }\n", "tests/solution_test.rs:2"),
    ],
    ids=["solution", "unit-tests", "integration-tests"],
)
async def test_compile_errors(client, solution, tests, expected):
    result = await validate(client, "rust", solution, tests)
    assert result["status"] == "compile_error", result
    assert expected in result["message"]
    assert "warning" not in result["message"]


async def test_dependencies_cannot_be_downloaded(client):
    cargo = '[package]\nname = "solution"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\nndarray = "0.15"\n'
    result = await validate(client, "rust", FIB, INTEGRATION_SUITE, files=[{"name": "Cargo.toml", "content": cargo}])
    assert result["status"] == "compile_error"
    assert "ndarray" in result["message"]


async def test_a_cargo_toml_dependency_on_a_prebuilt_library_is_served_by_it(client):
    """The image's crates (handler.py: libraries) stand in for crates.io, also renamed, with a note."""
    cargo = (
        '[package]\nname = "solution"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n'
        'serde = { version = "1", features = ["derive"] }\njson = { package = "serde_json", version = "1" }\n'
    )
    solution = (
        "#[derive(serde::Serialize)]\npub struct Point {\n    pub x: i32,\n    pub y: i32,\n}\n\n"
        "pub fn to_json(point: &Point) -> String {\n    json::to_string(point).unwrap()\n}\n"
    )
    tests = '#[test]\nfn point() {\n    assert_eq!(to_json(&Point { x: 1, y: -2 }), r#"{"x":1,"y":-2}"#);\n}\n'
    result = await validate(client, "rust", solution, tests, files=[{"name": "Cargo.toml", "content": cargo}])
    assert result["status"] == "passed", (result["message"], result["output"][-2000:])
    assert any("serde 1." in note and "serde_json 1." in note for note in result["notes"]), result["notes"]


@pytest.mark.parametrize(
    "stop",
    [
        "std::process::exit(0);",
        "std::process::abort();",
        'extern "C" { fn raise(signal: i32) -> i32; }\n        unsafe { raise(9); }',
    ],
    ids=["exit", "abort", "signal"],
)
async def test_a_test_that_stops_the_process_is_not_a_pass(client, stop):
    tests = unit_tests(
        "fn a_first() { assert_eq!(fib(1), 1); }", f"fn b_stops() {{\n        {stop}\n    }}", "fn c_after() {}"
    )
    result = await validate(client, "rust", FIB, tests)
    assert result["status"] == "runtime_error" and result["passed"] is False
    assert statuses(result) == {"tests::a_first": "passed", "tests::b_stops": "failed"}
    assert "stopped before this test finished" in result["tests"][1]["message"]


async def test_a_failed_allocation_is_memory_limit(client):
    # 1 PiB: more than a process's address space (128 TiB), so the allocation fails under every runtime
    # (gVisor grants a 64 TiB reservation that Linux's overcommit check refuses).
    tests = unit_tests("fn huge() {\n        std::hint::black_box(Vec::<u8>::with_capacity(1 << 50));\n    }")
    result = await validate(client, "rust", FIB, tests)
    assert result["status"] == "memory_limit", result
    assert "a memory allocation failed" in result["message"]


async def test_run_measures_in_process(client):
    solution, tests = example("rust")
    result = await run(client, "rust", solution, tests, runs=20, warmup=2, includeSamples=True)
    assert result["status"] == "passed", result["output"]
    m = result["measurement"]
    assert m["runs"] == 20 and m["warmup"] == 2 and m["notes"] == []
    assert len(m["samplesMs"]) == 20
    assert sorted(t["name"] for t in m["perTest"]) == sorted(t["name"] for t in result["tests"])
    assert m["medianMs"] < 1


async def test_a_run_job_streams_measure_progress_up_to_its_runs(client):
    """The runner's rows come over its channel as it measures; the harness sends progress from them."""
    solution, tests = example("rust")
    request = {"language": "rust", "solution": solution, "tests": tests, "runs": 200, "warmup": 3}
    response = await client.post("/api/jobs", json={"kind": "run", "request": request})
    job = await response.json()
    assert response.status == 202, job
    events = await read_job_events(client, job["id"])
    assert events[-1]["event"] == "result" and events[-1]["data"]["status"] == "succeeded", events[-1]
    progress = [e["data"] for e in events if e["event"] == "progress" and e["data"].get("phase") == "measure"]
    done = [p["runsDone"] for p in progress]
    assert len(done) >= 10 and done == sorted(done) and done[-1] == 200, progress
    assert all(p["runsTotal"] == 200 for p in progress), progress
    result = await (await client.get(f"/api/jobs/{job['id']}")).json()
    assert result["result"]["status"] == "passed" and result["result"]["measurement"]["runs"] == 200, result


async def test_run_measures_integration_tests_and_skips_ignored_ones(client):
    tests = INTEGRATION_SUITE + "\n#[test]\n#[ignore]\nfn later() {}\n"
    result = await run(client, "rust", FIB, tests, runs=5, warmup=1)
    assert result["status"] == "passed", result["output"]
    assert statuses(result)["later"] == "skipped"
    assert sorted(t["name"] for t in result["measurement"]["perTest"]) == ["out_of_bounds", "ten"]


# Writes lines that libtest's JSON, phronosd's runner records and report events would be, to every fd,
# then exits 0: none of it carries the channel's token.
FORGE = r"""
fn forge() -> ! {
    use std::io::Write;
    let lines = concat!(
        "{\"type\":\"suite\",\"event\":\"started\",\"test_count\":2}\n",
        "{\"type\":\"test\",\"event\":\"ok\",\"name\":\"ten\"}\n",
        "{\"type\":\"test\",\"event\":\"ok\",\"name\":\"out_of_bounds\"}\n",
        "{\"type\":\"suite\",\"event\":\"ok\",\"passed\":2,\"failed\":0,\"ignored\":0}\n",
        "{\"test\":\"ten\",\"status\":\"passed\",\"durationMs\":1,\"message\":null}\n",
        "{\"tests\":[\"out_of_bounds\",\"ten\"],\"timerResolutionNs\":1}\n",
        "{\"ns\":[7,7]}\n{\"ns\":[7,7]}\n{\"ns\":[7,7]}\n{\"ns\":[7,7]}\n{\"ns\":[7,7]}\n",
        "{\"end\":true,\"elapsedNs\":35}\n",
        "{\"event\":\"test\",\"name\":\"ten\",\"status\":\"passed\"}\n{\"event\":\"validated\"}\n",
    );
    for fd in 0..64 {
        let mut file = std::mem::ManuallyDrop::new(unsafe { <std::fs::File as std::os::unix::io::FromRawFd>::from_raw_fd(fd) });
        let _ = file.write_all(lines.as_bytes());
    }
    std::process::exit(0);
}
"""


async def test_forged_libtest_json_and_exit_0_is_not_a_pass(client):
    solution = "pub fn fib(n: u32) -> u64 {\n    forge();\n    n as u64\n}\n" + FORGE
    result = await validate(client, "rust", solution, INTEGRATION_SUITE)
    assert result["status"] == "runtime_error" and result["passed"] is False
    assert result["testsPassed"] == 0


async def test_forged_sample_rows_do_not_set_the_times(client):
    """Validation calls fib twice per process; the measuring process forges on its third call (the
    second run), writing sample rows to every fd, and exits: no measurement, and a note says why."""
    solution = (
        "static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);\n\n"
        "pub fn fib(n: u32) -> u64 {\n"
        "    if CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 2 {\n        forge();\n    }\n"
        "    fib_of(n)\n}\n\n"
        "fn fib_of(n: u32) -> u64 {\n    if n < 2 { n as u64 } else { fib_of(n - 1) + fib_of(n - 2) }\n}\n" + FORGE
    )
    result = await run(client, "rust", solution, INTEGRATION_SUITE, runs=5, warmup=1, includeSamples=True)
    assert result["status"] == "passed", result["output"]
    assert result["measurement"] is None and result["meanExecutionTime"] is None
    assert any(note.startswith("not measured") for note in result["notes"]), result["notes"]


PREINIT = """
#[used]
#[link_section = ".preinit_array"]
static EARLY: extern "C" fn() = early;

extern "C" fn early() {}
"""

CLOCKS = {
    "no_mangle": '#[no_mangle]\npub extern "C" fn clock_gettime(_clock: i32, time: *mut [i64; 2]) -> i32 {\n'
    "    unsafe { *time = [0, 0] };\n    0\n}\n",
    "export_name": '#[export_name = "clock_gettime"]\npub extern "C" fn frozen(_clock: i32, time: *mut [i64; 2]) -> i32 {\n'
    "    unsafe { *time = [0, 0] };\n    0\n}\n",
}


@pytest.mark.parametrize(
    "extra, expected",
    [
        (PREINIT, ".preinit_array holds code of the submission"),
        (CLOCKS["no_mangle"], "`clock_gettime` of the C library"),
        (CLOCKS["export_name"], "`clock_gettime` of the C library"),
    ],
    ids=["preinit_array", "clock_gettime", "clock_gettime-export_name"],
)
async def test_code_that_runs_before_the_runner_or_replaces_the_clock_is_refused(client, extra, expected):
    result = await validate(client, "rust", FIB + extra, INTEGRATION_SUITE)
    assert result["status"] == "compile_error" and result["passed"] is False
    assert expected in result["message"], result["message"]


# A script in place of a test binary answers on the channel: it reads the token from the pipe the
# harness gives the binary it means to start. Without the check that a binary is still the one that was
# built, the harness would count what the script says.
REPLACE = r"""
use std::os::unix::fs::PermissionsExt;

/// Puts `script` in place of every other test binary next to this one. The folder is listed before any
/// file is replaced: gVisor's tmpfs lists a file made after the listing began (POSIX leaves it open),
/// so a listing read meanwhile would return each new file again, for ever.
fn replace_the_others(script: &str, this_one_too: bool) {
    let me = std::env::current_exe().unwrap();
    let listed: Vec<_> = std::fs::read_dir(me.parent().unwrap()).unwrap().map(|entry| entry.unwrap().path()).collect();
    for path in listed {
        if (this_one_too || path != me) && path.extension().is_none() {
            std::fs::remove_file(&path).unwrap();
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
}
"""


def answering_script(*records: str) -> str:
    """A shell script that sends `records` behind the channel's token, as a Rust string literal."""
    lines = "".join(f"\\n%s {record}" for record in records) + "\\n"
    tokens = " ".join(['"$t"'] * len(records))
    script = f"#!/bin/sh\nread t <&$PHRONOSD_TOKEN_FD\nprintf '{lines}' {tokens} >&$PHRONOSD_RESULTS_FD\n"
    return '"' + script.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


async def test_a_test_binary_replaced_by_an_earlier_one_is_not_run(client):
    """The library's constructor runs in both test binaries: in the first that starts, fib is right and
    the other binary becomes a script saying its suite ended; in the other, fib would be wrong."""
    script = answering_script('{"end":true}')
    solution = f"""use std::sync::atomic::{{AtomicBool, Ordering}};

static FIRST: AtomicBool = AtomicBool::new(false);

#[used]
#[link_section = ".init_array"]
static ON_START: extern "C" fn() = on_start;

extern "C" fn on_start() {{
    if std::fs::create_dir("/tmp/first-binary").is_ok() {{
        FIRST.store(true, Ordering::SeqCst);
        replace_the_others({script}, false);
    }}
}}

pub fn fib(n: u32) -> u64 {{
    if !FIRST.load(Ordering::SeqCst) {{
        return 0;
    }}
    if n < 2 {{ n as u64 }} else {{ fib(n - 1) + fib(n - 2) }}
}}

#[cfg(test)]
mod own {{
    #[test]
    fn own_ten() {{
        assert_eq!(super::fib(10), 55);
    }}
}}
{REPLACE}"""
    tests = "#[test]\nfn ten() {\n    assert_eq!(fib(10), 55);\n}\n"
    result = await validate(client, "rust", solution, tests)
    assert result["status"] == "runtime_error" and result["passed"] is False, result["output"]
    assert any("changed after it was built" in note for note in result["notes"]), result


async def test_a_test_binary_that_replaces_itself_is_not_measured(client):
    """Validation passes; the binary then puts a script forging sample rows in its own place, which
    the measure phase would start."""
    script = answering_script(
        '{"tests":["ten"],"timerResolutionNs":1}',
        '{"ns":[7]}',
        '{"ns":[7]}',
        '{"ns":[7]}',
        '{"end":true,"elapsedNs":21}',
    )
    tests = (
        f"#[test]\nfn ten() {{\n    assert_eq!(fib(10), 55);\n    replace_the_others({script}, true);\n}}\n{REPLACE}"
    )
    result = await run(client, "rust", FIB, tests, runs=2, warmup=1)
    assert result["status"] == "passed", result["output"]
    assert result["measurement"] is None
    assert any("changed after it was built" in note for note in result["notes"]), result["notes"]


EXERCISM_SOLUTION = """pub fn hamming_distance(s1: &str, s2: &str) -> Option<usize> {
    if s1.len() != s2.len() {
        return None;
    }
    Some(s1.chars().zip(s2.chars()).filter(|(a, b)| a != b).count())
}
"""


@pytest.mark.parametrize(
    "manifest, crate",
    [
        ('[package]\nedition = "2021"\nname = "hamming"\nversion = "1.0.0"\n', "hamming"),
        ('[package]\nedition = "2021"\nname = "dna-hamming"\nversion = "1.0.0"\n', "dna_hamming"),
        ('[package]\nedition = "2021"\nname = "dna-tools"\nversion = "1.0.0"\n\n[lib]\nname = "strands"\n', "strands"),
    ],
    ids=["package-name", "dashed-package-name", "lib-name"],
)
async def test_a_cargo_toml_names_the_crate_the_tests_use(client, manifest, crate):
    """Exercism's layout: the crate has its own name, the tests (mostly #[ignore]d) import it."""
    tests = (
        f"use {crate}::*;\n\n"
        '#[test]\nfn empty_strands() {\n    assert_eq!(hamming_distance("", ""), Some(0));\n}\n\n'
        f'#[test]\n#[ignore]\nfn single_letter_identical() {{\n    assert_eq!({crate}::hamming_distance("A", "A"), Some(0));\n}}\n\n'
        '#[test]\nfn long_different() {\n    assert_eq!(hamming_distance("GGACGGATTCTG", "AGGACGGATTCT"), Some(9));\n}\n\n'
        '#[test]\nfn disallow_first_longer() {\n    assert_eq!(hamming_distance("AATG", "AAA"), None);\n}\n'
    )
    files = [{"name": "Cargo.toml", "content": manifest}]
    result = await validate(client, "rust", EXERCISM_SOLUTION, tests, testFile="tests/hamming.rs", files=files)
    assert result["status"] == "passed", result["output"]
    assert (result["testsPassed"], result["testsSkipped"], result["totalTests"]) == (3, 1, 4)
    assert statuses(result)["single_letter_identical"] == "skipped"


async def test_several_targets_with_clashing_names_are_all_counted(client):
    solution = (
        FIB
        + "\n#[cfg(test)]\nmod own {\n    #[test]\n    fn ten() {\n        assert_eq!(super::fib(10), 55);\n    }\n}\n"
    )
    other = "use solution::fib;\n\n#[test]\nfn ten() {\n    assert_eq!(fib(10), 55);\n}\n\n#[test]\nfn wrong() {\n    assert_eq!(fib(2), 2);\n}\n"
    result = await validate(
        client, "rust", solution, INTEGRATION_SUITE, files=[{"name": "tests/other.rs", "content": other}]
    )
    assert result["status"] == "failed", result["output"]
    assert statuses(result) == {
        "own::ten": "passed",
        "other::ten": "passed",
        "wrong": "failed",
        "solution_test::ten": "passed",
        "out_of_bounds": "passed",
    }


@pytest.mark.parametrize(
    "files, expected",
    [
        (
            [
                {
                    "name": "Cargo.toml",
                    "content": '[package]\nname = "solution"\nversion = "0.1.0"\nedition = "2021"\nbuild = "build.rs"\n',
                },
                {"name": "build.rs", "content": "fn main() {}\n"},
            ],
            "has a build script",
        ),
        ([{"name": ".cargo/config.toml", "content": '[build]\nrustflags = ["-C", "link-arg=-s"]\n'}], ".cargo/config"),
    ],
    ids=["build-script", "cargo-config"],
)
async def test_build_time_code_and_cargo_configuration_are_refused(client, files, expected):
    result = await validate(client, "rust", FIB, INTEGRATION_SUITE, files=files)
    assert result["status"] == "compile_error" and result["passed"] is False
    assert expected in result["message"], result["message"]


@pytest.mark.parametrize(
    "call",
    ["phronosd_runner::run(&[]);", "extern crate phronosd_runner;\n        phronosd_runner::run(&[]);"],
    ids=["path", "extern-crate"],
)
async def test_the_code_under_test_cannot_name_the_runner(client, call):
    """Calling the runner with an empty list would end the suite with nothing failed."""
    tests = unit_tests(f"fn a_calls_the_runner() {{\n        {call}\n    }}", "fn b_wrong() { assert_eq!(fib(3), 3); }")
    result = await validate(client, "rust", FIB, tests)
    assert result["status"] == "compile_error" and result["passed"] is False
    assert "phronosd_runner" in result["message"]


async def test_an_indirect_function_is_refused(client):
    """A GNU indirect function's resolver runs while the loader relocates the program, before any
    initialiser, phronosd's runner included."""
    solution = (
        FIB
        + r"""
#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    ".globl early", ".type early, @gnu_indirect_function", "early:", "lea rax, [rip + early_body]", "ret",
    "early_body:", "ret",
);
#[cfg(target_arch = "aarch64")]
std::arch::global_asm!(
    ".globl early", ".type early, %gnu_indirect_function", "early:", "adr x0, early_body", "ret",
    "early_body:", "ret",
);

extern "C" {
    fn early();
}

pub fn call_early() {
    unsafe { early() }
}
"""
    )
    tests = INTEGRATION_SUITE + "\n#[test]\nfn calls_early() {\n    call_early();\n}\n"
    result = await validate(client, "rust", solution, tests)
    assert result["status"] == "compile_error" and result["passed"] is False
    assert "indirect functions (IFUNC)" in result["message"], result["message"]


async def test_a_background_process_left_by_a_test_does_not_hold_the_run(client):
    """The process is in its own process group and keeps stdout open; the harness stops it."""
    tests = (
        "use std::os::unix::process::CommandExt;\n\n"
        '#[test]\nfn leaves_a_process() {\n    std::process::Command::new("sleep").arg("300").process_group(0).spawn().unwrap();\n'
        "    assert_eq!(fib(10), 55);\n}\n"
    )
    result = await validate(client, "rust", FIB, tests, timeoutMs=20000)
    assert result["status"] == "passed", result["output"]
    assert result["timings"]["validateMs"] < 10000
