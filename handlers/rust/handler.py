"""Rust: a cargo crate (named `solution` unless files has a Cargo.toml), built once with --release;
phronosd's custom test runner, compiled into every test binary, validates and times the tests."""

import re

from phronosd.languages import Language, Layout, Submission, place_files

UNIT_TESTS = re.compile(r"#\[\s*cfg\s*\(\s*test\s*\)\s*\]")
UNIT_TEST_FILE = "src/solution_test.rs"

CARGO_TOML = """[package]
name = "solution"
version = "0.1.0"
edition = "2021"

[lib]
path = "{lib}"
doctest = false

[dependencies]
"""


def integration_test_file(name: str) -> str:
    """Cargo only finds integration tests in tests/."""
    return name if name.startswith("tests/") else "tests/" + name.rsplit("/", 1)[-1]


class RustLanguage(Language):
    def layout(self, submission: Submission) -> Layout:
        """Unit tests (a `#[cfg(test)]` module) go to src/solution_test.rs, included at the end of the
        library by the harness; other tests become an integration test (tests/solution_test.rs unless
        testFile says otherwise). Cargo.toml is generated unless `files` has one."""
        solution_file = submission.solution_file or self.solution_file
        unit_tests = bool(UNIT_TESTS.search(submission.tests))
        test_file = UNIT_TEST_FILE if unit_tests else integration_test_file(submission.test_file or self.test_file)
        entries = [(solution_file, submission.solution), (test_file, submission.tests), *submission.files]
        generated_cargo_toml = not any(name == "Cargo.toml" for name, _ in submission.files)
        if generated_cargo_toml:
            entries.append(("Cargo.toml", CARGO_TOML.format(lib=solution_file)))
        return Layout(
            files=place_files(entries),
            solution_file=solution_file,
            test_file=test_file,
            options={"unitTests": unit_tests, "generatedCargoToml": generated_cargo_toml},
        )


HANDLER = RustLanguage(
    name="rust",
    aliases=("rs",),
    runtime="rustc",
    framework="cargo test",
    version_packages={"runtime": "rustc", "framework": "cargo"},
    solution_file="src/lib.rs",
    test_file="tests/solution_test.rs",
    default_warmup=5,
    poolable=True,
    comparable=True,
    # The crates prebuilt in the image (handlers/README.md, Rust): the crates.io name -> its Debian package.
    libraries={
        "itertools": "librust-itertools-dev",
        "regex": "librust-regex-dev",
        "rand": "librust-rand-dev",
        "num": "librust-num-dev",
        "num-bigint": "librust-num-bigint-dev",
        "num-integer": "librust-num-integer-dev",
        "num-traits": "librust-num-traits-dev",
        "serde": "librust-serde-dev",
        "serde_derive": "librust-serde-derive-dev",
        "serde_json": "librust-serde-json-dev",
        "once_cell": "librust-once-cell-dev",
        "lazy_static": "librust-lazy-static-dev",
        "rustc-hash": "librust-rustc-hash-dev",
        "indexmap": "librust-indexmap-dev",
        "smallvec": "librust-smallvec-dev",
        "ordered-float": "librust-ordered-float-dev",
        "petgraph": "librust-petgraph-dev",
        "chrono": "librust-chrono-dev",
    },
    compile_timeout_ms=60_000,  # cargo builds the library twice (itself, its unit tests) and each test target
    conventions=(
        "The solution is src/lib.rs of a library crate named `solution` (edition 2021, offline). The "
        "crates listed as libraries are prebuilt in the image (default features; serde with `derive` and "
        "`rc`, rand with `small_rng`): `use itertools::Itertools;` needs no Cargo.toml. Tests written as "
        "a `#[cfg(test)] mod tests { use super::*; ... }` block are compiled into the library as if "
        "appended to src/lib.rs (saved as src/solution_test.rs and included there); other tests become "
        "the integration test tests/solution_test.rs, where `use solution::*;` is already in scope. A "
        "Cargo.toml in files replaces the generated one (the tests then see the library under its own "
        "name: `[lib] name`, else the package name with `-` as `_`, e.g. `use hamming::*;`); its "
        "crates.io dependencies on those libraries are the prebuilt crates whatever version they ask for "
        "(a note says which), other dependencies cannot be downloaded, and its own build scripts, "
        "procedural macro crates and .cargo/config are refused. Everything is built once with `cargo test"
        " --release` (so integer overflow wraps unless the profile enables overflow-checks) and the same "
        "binaries are validated and measured. phronosd's test runner runs every test of every test target"
        " one at a time, in a thread named after it, as libtest does: #[ignore] tests are skipped; "
        "#[should_panic(expected = ...)] and tests returning Result work; the captured output (a panic's "
        "message and location) is the failure message. Doc-tests are not run: each would be a separate "
        "compilation and cannot be timed in-process; put examples in #[test] functions. A test that exits"
        " the process (std::process::exit, abort, a signal) stops the suite: no pass. A binary that "
        "defines a C library function (e.g. clock_gettime) or puts code in .preinit_array is refused. "
        "Measurement runs every non-ignored #[test] warm-up + runs times in the test binary's process, "
        "timing only the body."
    ),
)
