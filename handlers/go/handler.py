"""Go: `go test -c` builds one test binary (vet included), validated via test2json, timed in-process."""

from phronosd.languages import Language

HANDLER = Language(
    name="go",
    aliases=("golang",),
    runtime="Go 1.24 (Debian trixie)",
    framework="go test (testing)",
    solution_file="solution.go",
    test_file="solution_test.go",
    default_warmup=5,
    conventions=(
        "The solution is saved as solution.go and the tests as solution_test.go, in one directory "
        "and one package: the solution's package clause names it (any name), and the tests use the "
        "same package or <name>_test. phronosd writes `go.mod` with `module solution` and `go 1.24` "
        "unless files provides one, so a _test package imports the solution as \"solution\". Only "
        "the standard library is available: no module downloads and no toolchain switching (a go.mod "
        "asking for a newer Go is a compile error). go vet's default `go test` checks run and fail the "
        "build. Each leaf test counts once: a subtest from t.Run, or a top-level test without "
        "subtests; a parent test that fails beyond its subtests (its own t.Error, t.Fatal or panic) is "
        "also counted as failed. Examples with an Output comment and fuzz seed corpora run as tests; "
        "benchmarks do not run. A panic, os.Exit or log.Fatal inside a test stops the suite: no pass. "
        "Measurement times every top-level TestXxx in-process (t.Run per execution), to the end of its "
        "subtests, parallel ones included, and of its t.Cleanup functions; a parallel test's "
        "t.Parallel pause is included."
    ),
)
