"""Go: `go test -c` builds one test binary (vet included); phronosd's runner in it reports and times the tests."""

from phronosd.languages import Language

HANDLER = Language(
    name="go",
    aliases=("golang",),
    runtime="Go",
    framework="go test",
    version_packages={"runtime": "golang-1.24-go", "framework": "golang-1.24-go"},
    solution_file="solution.go",
    test_file="solution_test.go",
    default_warmup=5,
    conventions=(
        "The solution is saved as solution.go and the tests as solution_test.go, in one directory "
        "and one package: the solution's package clause names it (any name), and the tests use the "
        "same package or <name>_test. phronosd writes `go.mod` with `module solution` and `go 1.24` "
        'unless files provides one, so a _test package imports the solution as "solution". Besides '
        "the standard library, the libraries listed here import with no require line (a go.mod that "
        "requires one at any version builds with the installed one); nothing else: no module "
        "downloads and no toolchain switching (a go.mod "
        "asking for a newer Go is built with the installed one, its go line lowered, and a note says "
        "so). go vet's default `go test` checks run and fail the build; //go:linkname, assembly, "
        ".syso files and a go.mod replace by a local directory are refused, and so is a solution "
        "that uses names declared by the tests of its "
        "package. Each leaf test counts once: a subtest from t.Run, or a top-level test without "
        "subtests; a parent test that fails beyond its subtests (its own t.Error, t.Fatal or panic) is "
        "also counted as failed. Examples with an Output comment and fuzz seed corpora run as tests; "
        "benchmarks do not run. A TestMain must call m.Run. A panic, os.Exit or log.Fatal inside a "
        "test stops the suite: no pass. "
        "Measurement times every top-level TestXxx in-process (t.Run per execution), to the end of its "
        "subtests, parallel ones included, and of its t.Cleanup functions; a parallel test's "
        "t.Parallel pause is included."
    ),
    poolable=True,
    comparable=True,
    libraries={
        "golang.org/x/exp": "golang-golang-x-exp-dev",
        "golang.org/x/sync": "golang-golang-x-sync-dev",
        "github.com/stretchr/testify": "golang-github-stretchr-testify-dev",
        "github.com/google/go-cmp": "golang-github-google-go-cmp-dev",
        "github.com/emirpasic/gods": "golang-github-emirpasic-gods-dev",
        "github.com/deckarep/golang-set/v2": "golang-github-deckarep-golang-set-dev",
        "github.com/google/btree": "golang-github-google-btree-dev",
        "github.com/samber/lo": "golang-github-samber-lo-dev",
    },
)
