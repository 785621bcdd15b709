"""Rust end to end: real app, real containers, real cargo and libtest."""

from __future__ import annotations

import pytest

from helpers import example, run, statuses, validate

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


async def test_example_passes_with_alias(client):
    solution, tests = example("rust")
    result = await validate(client, "rs", solution, tests)
    assert result["status"] == "passed", result["output"]
    assert result["testsPassed"] == result["totalTests"] == 7


async def test_integration_tests_and_the_solutions_own_tests_are_summed(client):
    solution = FIB + "\n#[cfg(test)]\nmod own {\n    #[test]\n    fn own_test() {\n        assert_eq!(super::fib(4), 3);\n    }\n}\n"
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
    cargo = '[package]\nname = "solution"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\nrand = "0.8"\n'
    result = await validate(client, "rust", FIB, INTEGRATION_SUITE, files=[{"name": "Cargo.toml", "content": cargo}])
    assert result["status"] == "compile_error"
    assert "rand" in result["message"]


async def test_process_exit_inside_a_test_is_not_a_pass(client):
    tests = unit_tests("fn a_first() { assert_eq!(fib(1), 1); }", "fn b_exits() { std::process::exit(0); }", "fn c_after() {}")
    result = await validate(client, "rust", FIB, tests)
    assert result["status"] == "runtime_error" and result["passed"] is False
    assert statuses(result) == {"tests::a_first": "passed", "tests::b_exits": "failed"}


async def test_infinite_loop_times_out(client):
    tests = unit_tests("fn forever() { loop { std::hint::black_box(0); } }")
    result = await validate(client, "rust", FIB, tests, timeoutMs=4000)
    assert result["status"] == "timeout" and result["passed"] is False


async def test_memory_growth_is_memory_limit(client):
    tests = unit_tests("fn grow() {\n        let mut blocks = Vec::new();\n        loop { blocks.push(vec![1u8; 16 << 20]); }\n    }")
    result = await validate(client, "rust", FIB, tests, memoryMb=384)
    assert result["status"] == "memory_limit", result


async def test_network_is_unreachable(client):
    tests = (
        "use std::net::{TcpStream, ToSocketAddrs};\nuse std::time::Duration;\n\n"
        "#[test]\nfn no_network() {\n"
        '    assert!(TcpStream::connect_timeout(&"1.1.1.1:53".parse().unwrap(), Duration::from_secs(2)).is_err());\n'
        '    assert!("deb.debian.org:80".to_socket_addrs().is_err());\n}\n'
    )
    result = await validate(client, "rust", FIB, tests)
    assert result["status"] == "passed", result["output"]


async def test_run_measures_in_process(client):
    solution, tests = example("rust")
    result = await run(client, "rust", solution, tests, runs=20, warmup=2, includeSamples=True)
    assert result["status"] == "passed", result["output"]
    m = result["measurement"]
    assert m["runs"] == 20 and m["warmup"] == 2 and m["notes"] == []
    assert len(m["samplesMs"]) == 20
    assert sorted(t["name"] for t in m["perTest"]) == sorted(t["name"] for t in result["tests"])
    assert m["medianMs"] < 1


async def test_run_measures_integration_tests_and_skips_ignored_ones(client):
    tests = INTEGRATION_SUITE + "\n#[test]\n#[ignore]\nfn later() {}\n"
    result = await run(client, "rust", FIB, tests, runs=5, warmup=1)
    assert result["status"] == "passed", result["output"]
    assert statuses(result)["later"] == "skipped"
    assert sorted(t["name"] for t in result["measurement"]["perTest"]) == ["out_of_bounds", "ten"]
