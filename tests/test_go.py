"""Go end to end: real app, real containers, real `go test` binaries."""

from __future__ import annotations

import pytest
from helpers import compare, example, run, statuses, validate

pytestmark = pytest.mark.each_runtime  # also under gVisor in CI (tests/runtimes.py)

FIB = """package solution

func Fib(n int) int {
	if n < 2 {
		return n
	}
	return Fib(n-1) + Fib(n-2)
}
"""

MIXED_SUITE = """package solution

import (
	"fmt"
	"testing"
)

func TestTable(t *testing.T) {
	for _, c := range []struct{ n, want int }{{0, 0}, {1, 1}, {10, 55}} {
		t.Run(fmt.Sprintf("n=%d", c.n), func(t *testing.T) {
			if got := Fib(c.n); got != c.want {
				t.Errorf("Fib(%d) = %d, want %d", c.n, got, c.want)
			}
		})
	}
}

func TestWrong(t *testing.T) {
	if got := Fib(3); got != 3 {
		t.Errorf("Fib(3) = %d, want 3", got)
	}
}

func TestSkipped(t *testing.T) {
	t.Skip("not today")
}

func TestNested(t *testing.T) {
	t.Run("outer", func(t *testing.T) {
		t.Run("a", func(t *testing.T) {})
		t.Run("b", func(t *testing.T) { t.Fatal("b broke") })
	})
}

func TestParentFails(t *testing.T) {
	t.Run("ok", func(t *testing.T) {})
	t.Error("the parent's own failure")
}

func TestParallel(t *testing.T) {
	for _, n := range []int{5, 6} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			if Fib(n) <= 0 {
				t.Error("not positive")
			}
		})
	}
}

func BenchmarkFib(b *testing.B) {
	for i := 0; i < b.N; i++ {
		Fib(20)
	}
}

func ExampleFib() {
	fmt.Println(Fib(10))
	// Output: 55
}
"""


def go_tests(*bodies: str, imports: tuple[str, ...] = ("testing",)) -> str:
    lines = "\n".join(f'\t"{name}"' for name in imports)
    return "package solution\n\nimport (\n" + lines + "\n)\n\n" + "\n\n".join(bodies) + "\n"


def statuses_messages(result):
    """Test name -> message ("" for none) of a result."""
    return {t["name"]: t["message"] or "" for t in result["tests"]}


@pytest.fixture(autouse=True)
def go_image(require_image):
    require_image("go")


async def test_counts_leaf_tests(client):
    result = await validate(client, "go", FIB, MIXED_SUITE)
    assert result["status"] == "failed", result["output"]
    assert statuses(result) == {
        "TestTable/n=0": "passed",
        "TestTable/n=1": "passed",
        "TestTable/n=10": "passed",
        "TestWrong": "failed",
        "TestSkipped": "skipped",
        "TestNested/outer/a": "passed",
        "TestNested/outer/b": "failed",
        "TestParentFails": "failed",
        "TestParentFails/ok": "passed",
        "TestParallel/5": "passed",
        "TestParallel/6": "passed",
        "ExampleFib": "passed",
    }
    assert (result["testsPassed"], result["testsFailed"], result["testsSkipped"]) == (8, 3, 1)
    messages = {t["name"]: t["message"] for t in result["tests"]}
    assert "Fib(3) = 2, want 3" in messages["TestWrong"]
    assert "the parent's own failure" in messages["TestParentFails"]
    assert "--- FAIL: TestWrong" in result["output"]


async def test_example_passes_with_alias(client):
    solution, tests = example("go")
    result = await validate(client, "golang", solution, tests)
    assert result["status"] == "passed", result["output"]
    assert result["testsPassed"] == result["totalTests"] == 7
    assert result["timings"]["measureMs"] is None


async def test_external_test_package_with_internal_tests(client):
    tests = (
        'package solution_test\n\nimport (\n\t"testing"\n\n\t"solution"\n)\n\n'
        'func TestTen(t *testing.T) {\n\tif solution.Fib(10) != 55 {\n\t\tt.Fatal("Fib(10)")\n\t}\n}\n'
    )
    internal = go_tests('func TestInternal(t *testing.T) {\n\tif Fib(2) != 1 {\n\t\tt.Fatal("Fib(2)")\n\t}\n}')
    result = await run(
        client, "go", FIB, tests, runs=5, warmup=1, files=[{"name": "internal_test.go", "content": internal}]
    )
    assert result["status"] == "passed", result["output"]
    assert statuses(result) == {"TestInternal": "passed", "TestTen": "passed"}
    assert result["measurement"]["runs"] == 5
    assert [t["name"] for t in result["measurement"]["perTest"]] == ["TestInternal", "TestTen"]


@pytest.mark.parametrize(
    "solution, tests, expected",
    [
        (
            "package solution\n\nfunc Fib(n int) int {\n\treturn n +\n}\n",
            go_tests("func TestX(t *testing.T) {}"),
            "solution.go:5",
        ),
        (FIB, go_tests("func TestX(t *testing.T) {\n\tFibonacci(3)\n}"), "undefined: Fibonacci"),
        (FIB, go_tests("func TestX(t *testing.T {\n}"), "solution_test.go"),
        (FIB, go_tests('func TestX(t *testing.T) {\n\tt.Errorf("%d", "x")\n}'), "wrong type"),
    ],
    ids=["solution", "tests", "syntax-in-tests", "vet"],
)
async def test_compile_errors(client, solution, tests, expected):
    result = await validate(client, "go", solution, tests)
    assert result["status"] == "compile_error", result
    assert expected in result["message"]
    assert result["totalTests"] == 0


async def test_exercisms_go_1_26_module_builds_with_a_note(client):
    """Exercism's Go track ships `go 1.26` (with a toolchain line, as `go mod tidy` writes it)."""
    files = [{"name": "go.mod", "content": "module fib\n\ngo 1.26\n\ntoolchain go1.26.1\n"}]
    result = await validate(client, "go", FIB, go_tests("func TestX(t *testing.T) {}"), files=files)
    assert result["status"] == "passed", (result["message"], result["output"])
    assert (
        len(result["notes"]) == 1 and "go.mod asks for Go 1.26; built with the installed Go 1.24" in result["notes"][0]
    )


async def test_module_downloads_are_off(client):
    tests = go_tests("func TestX(t *testing.T) {\n\t_ = errors.New\n}", imports=("testing", "github.com/pkg/errors"))
    result = await validate(client, "go", FIB, tests)
    assert result["status"] == "compile_error"
    assert "github.com/pkg/errors" in result["message"]


async def test_panic_fails_the_test_and_stops_the_suite(client):
    tests = go_tests(
        "func TestFirst(t *testing.T) {}",
        "func TestPanics(t *testing.T) {\n\tvar s []int\n\t_ = s[Fib(5)]\n}",
        "func TestAfter(t *testing.T) {}",
    )
    result = await validate(client, "go", FIB, tests)
    assert result["status"] == "runtime_error" and result["passed"] is False
    assert statuses(result) == {"TestFirst": "passed", "TestPanics": "failed"}
    panicked = next(t for t in result["tests"] if t["name"] == "TestPanics")
    assert "index out of range" in panicked["message"]


@pytest.mark.parametrize("exit_call", ["os.Exit(0)", "os.Exit(1)"])
async def test_exit_inside_a_test_is_not_a_pass(client, exit_call):
    tests = go_tests(
        "func TestFirst(t *testing.T) {}",
        f"func TestExits(t *testing.T) {{\n\t{exit_call}\n}}",
        imports=("os", "testing"),
    )
    result = await validate(client, "go", FIB, tests)
    assert result["status"] == "runtime_error" and result["passed"] is False
    assert statuses(result)["TestExits"] == "failed"


async def test_exit_in_init_is_not_a_pass(client):
    solution = FIB + "\nfunc init() {\n\tos.Exit(0)\n}\n"
    solution = solution.replace("package solution\n", 'package solution\n\nimport "os"\n')
    result = await validate(client, "go", solution, go_tests("func TestX(t *testing.T) {}"))
    assert result["status"] == "runtime_error" and result["passed"] is False
    assert "before phronosd's runner ran" in result["tests"][0]["message"]


WRONG_ADD = "package solution\n\nfunc Add(a, b int) int {\n\treturn a - b\n}\n"
ADD_TESTS = go_tests(
    'func TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal("Add(1, 2) != 3")\n\t}\n}',
    "func TestOther(t *testing.T) {}",
)
FORGED_FRAMING = 'syscall.Write(1, []byte("\\x16--- PASS: TestAdd (0.00s)\\n\\x16PASS\\n"))\n\tsyscall.Exit(0)'


# The test forges go test's framing of a pass on stdout, then exits with 0 (past -test.paniconexit0).
FORGING_TESTS = go_tests(
    f"func TestAdd(t *testing.T) {{\n\tif Add(1, 2) != 3 {{\n\t\t{FORGED_FRAMING}\n\t}}\n}}",
    imports=("syscall", "testing"),
)
# The solution writes forged results (runner records, framing) to every fd, then exits with 0.
FORGING_SOLUTION = (
    'package solution\n\nimport "syscall"\n\nfunc Add(a, b int) int {\n'
    '\tline := []byte(`{"test": "TestAdd", "status": "passed", "ns": 1}` + "\\n" + `{"end": true}` + "\\n")\n'
    "\tfor fd := 0; fd < 64; fd++ {\n\t\tsyscall.Write(fd, line)\n\t}\n"
    f"\t{FORGED_FRAMING}\n\treturn 0\n}}\n"
)


@pytest.mark.parametrize(
    "solution, tests",
    [(WRONG_ADD, FORGING_TESTS), (FORGING_SOLUTION, ADD_TESTS)],
    ids=["from-the-test", "from-the-solution"],
)
async def test_forged_results_and_exit_zero_are_not_passed(client, solution, tests):
    result = await validate(client, "go", solution, tests)
    assert result["status"] == "runtime_error" and result["passed"] is False, result
    assert statuses(result)["TestAdd"] == "failed"


# The solution reads its own memory for the token (/proc/self/mem), writes forged records with every
# candidate to every pipe, then exits with 0.
MEMORY_THIEF = """package solution

import (
	"bufio"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

var token = regexp.MustCompile(`[0-9a-f]{32} `)

// Add is wrong, and forges a pass with the token found in its own memory.
func Add(a, b int) int {
	maps, err := os.Open("/proc/self/maps")
	if err != nil {
		return a - b
	}
	mem, err := os.Open("/proc/self/mem")
	if err != nil {
		return a - b
	}
	scanner := bufio.NewScanner(maps)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 2 || !strings.HasPrefix(fields[1], "rw") {
			continue
		}
		bounds := strings.Split(fields[0], "-")
		start, _ := strconv.ParseUint(bounds[0], 16, 64)
		end, _ := strconv.ParseUint(bounds[1], 16, 64)
		if end-start > 64<<20 {
			continue
		}
		chunk := make([]byte, end-start)
		if n, _ := mem.ReadAt(chunk, int64(start)); n > 0 {
			for _, found := range token.FindAll(chunk[:n], -1) {
				forge(string(found[:32]))
			}
		}
	}
	return a - b
}

func forge(candidate string) {
	for fd := 3; fd < 20; fd++ {
		var st syscall.Stat_t
		if syscall.Fstat(fd, &st) == nil && (st.Mode&syscall.S_IFMT == syscall.S_IFIFO || st.Mode&syscall.S_IFMT == syscall.S_IFSOCK) {
			lines := ""
			for _, record := range []string{`{"test": "TestAdd", "status": "passed", "ns": 1}`, `{"test": "TestOther", "status": "passed", "ns": 1}`, `{"end": true}`} {
				lines += "\\n" + candidate + " " + record + "\\n"
			}
			syscall.Write(fd, []byte(lines))
		}
	}
}

// Done exits once the forgeries are out.
func Done() { syscall.Exit(0) }
"""
MEMORY_THIEF_TESTS = """package solution

import "testing"

func TestAdd(t *testing.T) {
	got := Add(1, 2)
	Done()
	if got != 3 {
		t.Fatal("Add(1, 2) != 3")
	}
}

func TestOther(t *testing.T) {}
"""
# A test moves the results fd aside (a pipe of its own in its place) to read the runner's next record,
# the token with it; the next test forges a pass with it.
FD_THIEF_TESTS = """package solution

import (
	"strings"
	"syscall"
	"testing"
)

var saved, stolen = -1, -1

// TestAdd puts a pipe of its own on the first pipe or socket fd above stderr (the results fd), so
// that the runner's record of TestAdd lands there; TestOther reads the token from it and forges.
func TestAdd(t *testing.T) {
	for fd := 3; fd < 20; fd++ {
		var st syscall.Stat_t
		if syscall.Fstat(fd, &st) == nil && (st.Mode&syscall.S_IFMT == syscall.S_IFIFO || st.Mode&syscall.S_IFMT == syscall.S_IFSOCK) {
			saved, _ = syscall.Dup(fd)
			var p [2]int
			syscall.Pipe(p[:])
			syscall.Dup3(p[1], fd, 0)
			stolen = p[0]
			break
		}
	}
	if Add(1, 2) != 3 {
		t.Fatal("Add(1, 2) != 3")
	}
}

func TestOther(t *testing.T) {
	if stolen < 0 {
		return
	}
	syscall.SetNonblock(stolen, true)
	buf := make([]byte, 4096)
	n, _ := syscall.Read(stolen, buf)
	for _, line := range strings.Split(string(buf[:max(n, 0)]), "\\n") {
		if token, _, ok := strings.Cut(line, " "); ok && len(token) == 32 {
			forged := ""
			for _, record := range []string{`{"test": "TestAdd", "status": "passed", "ns": 1}`, `{"test": "TestOther", "status": "passed", "ns": 1}`, `{"end": true}`} {
				forged += "\\n" + token + " " + record + "\\n"
			}
			syscall.Write(saved, []byte(forged))
			syscall.Exit(0)
		}
	}
}
"""


@pytest.mark.parametrize(
    "solution, tests",
    [(MEMORY_THIEF, MEMORY_THIEF_TESTS), (WRONG_ADD, FD_THIEF_TESTS)],
    ids=["proc-self-mem", "dup2-on-the-results-fd"],
)
async def test_token_thieves_are_not_passed(client, solution, tests):
    result = await validate(client, "go", solution, tests)
    assert result["status"] == "runtime_error" and result["passed"] is False, result
    assert statuses(result)["TestAdd"] == "failed"


async def test_forged_sample_rows_do_not_set_the_times(client):
    solution = (
        'package solution\n\nimport "syscall"\n\nfunc Add(a, b int) int {\n'
        '\trows := `{"tests": ["TestAdd"], "timerResolutionNs": 1}` + "\\n" + `{"ns": [1]}` + "\\n" + `{"end": true, "elapsedNs": 1}` + "\\n"\n'
        "\tfor fd := 0; fd < 64; fd++ {\n\t\tfor i := 0; i < 5; i++ {\n\t\t\tsyscall.Write(fd, []byte(rows))\n\t\t}\n\t}\n"
        "\treturn a + b\n}\n"
    )
    tests = go_tests(
        'func TestAdd(t *testing.T) {\n\ttime.Sleep(2 * time.Millisecond)\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal("Add")\n\t}\n}',
        imports=("testing", "time"),
    )
    result = await run(client, "go", solution, tests, runs=10, warmup=1, includeSamples=True)
    assert result["status"] == "passed", (result["message"], result["output"])
    m = result["measurement"]
    assert m["runs"] == 10 and min(m["samplesMs"]) >= 2.0, m
    assert "timing_inconsistent" not in m["flags"]


async def test_a_solution_calling_phronosds_runner_is_not_passed(client):
    solution = (
        'package solution\n\nimport (\n\t"testing"\n\n\trunner "phronosd.invalid/runner"\n)\n\n'
        "var _ = func() int {\n"
        '\trunner.Register([]testing.InternalTest{{Name: "TestAdd", F: func(*testing.T) {}}}, nil, nil)\n'
        "\treturn 0\n}()\n\nfunc Add(a, b int) int {\n\treturn a - b\n}\n"
    )
    result = await validate(client, "go", solution, ADD_TESTS)
    assert result["status"] == "runtime_error" and result["passed"] is False
    assert "called phronosd's runner" in statuses_messages(result)["(test binary)"]


async def test_a_solution_using_the_tests_variables_is_refused(client):
    """In a test build the solution shares the tests' package: emptying their table would pass."""
    solution = "package solution\n\nfunc init() {\n\tcases = nil\n}\n\nfunc Add(a, b int) int {\n\treturn a - b\n}\n"
    tests = go_tests(
        "var cases = []struct{ a, b, want int }{{1, 2, 3}}",
        "func TestAdd(t *testing.T) {\n\tfor _, c := range cases {\n\t\tif Add(c.a, c.b) != c.want {\n\t\t\tt.Error(c)\n\t\t}\n\t}\n}",
    )
    result = await validate(client, "go", solution, tests)
    assert result["status"] == "compile_error"
    assert "solution.go: uses cases, declared in the test files" in result["message"]


@pytest.mark.parametrize(
    "files, expected",
    [
        (
            [
                {
                    "name": "peek.go",
                    "content": 'package solution\n\nimport _ "unsafe"\n\n//go:linkname peek phronosd.invalid/runner.results\nvar peek uintptr\n',
                }
            ],
            "peek.go: //go:linkname is not accepted",
        ),
        (
            [{"name": "peek_amd64.s", "content": "TEXT ·peek(SB),$0\n\tRET\n"}],
            "peek_amd64.s: assembly files are not accepted",
        ),
        (
            [{"name": "testdata/peek/peek.go", "content": "package peek\n\n//go:linkname peek x.y\n"}],
            "testdata/peek/peek.go: //go:linkname is not accepted",
        ),
        (
            [
                {
                    "name": "go.mod",
                    "content": "module solution\n\ngo 1.24\n\nrequire peek.invalid v0.0.0\n\nreplace peek.invalid => ./peek\n",
                },
                {"name": "peek/go.mod", "content": "module peek.invalid\n\ngo 1.24\n"},
                {"name": "peek/peek.go", "content": "package peek\n"},
            ],
            "go.mod: a replace by a local directory is not accepted",
        ),
    ],
    ids=["linkname", "assembly", "linkname-in-testdata", "local-replace"],
)
async def test_linkname_and_assembly_are_refused(client, files, expected):
    result = await validate(client, "go", FIB, go_tests("func TestX(t *testing.T) {}"), files=files)
    assert result["status"] == "compile_error"
    assert expected in result["message"]


async def test_a_package_in_a_folder_go_ignores_starts_after_the_runner(client):
    """Go initialises packages in import path order: under module `a`, `a/_early` would come before
    phronosd's runner and could read its token, were it not given the runner's import too."""
    files = [
        {"name": "go.mod", "content": "module a\n\ngo 1.24\n"},
        {
            "name": "_early/early.go",
            "content": 'package early\n\nimport "os"\n\nvar Token = os.Getenv("PHRONOSD_TOKEN_FD")\n',
        },
    ]
    solution = 'package solution\n\nimport early "a/_early"\n\nfunc Token() string {\n\treturn early.Token\n}\n'
    tests = go_tests(
        'func TestToken(t *testing.T) {\n\tif Token() != "" {\n\t\tt.Fatal("started before the runner")\n\t}\n}'
    )
    result = await validate(client, "go", solution, tests, files=files)
    assert result["status"] == "passed", (result["message"], result["output"])


async def test_a_go_mod_requiring_a_library_at_another_version_builds_with_the_installed_one(client):
    go_mod = "module solution\n\ngo 1.22\n\nrequire github.com/stretchr/testify v1.8.4\n"
    tests = go_tests(
        "func TestTen(t *testing.T) {\n\tassert.Equal(t, 55, Fib(10))\n}",
        imports=("testing", "github.com/stretchr/testify/assert"),
    )
    result = await validate(client, "go", FIB, tests, files=[{"name": "go.mod", "content": go_mod}])
    assert result["status"] == "passed" and statuses(result) == {"TestTen": "passed"}, result["message"]


@pytest.mark.parametrize("calls_run, expected", [(True, "passed"), (False, "runtime_error")])
async def test_test_main(client, calls_run, expected):
    body = (
        '\tcode := m.Run()\n\tfmt.Println("teardown")\n\tos.Exit(code)'
        if calls_run
        else '\tfmt.Println("no m.Run")\n\tos.Exit(0)'
    )
    tests = go_tests(
        f"func TestMain(m *testing.M) {{\n{body}\n}}",
        'func TestTen(t *testing.T) {\n\tif Fib(10) != 55 {\n\t\tt.Fatal("Fib(10)")\n\t}\n}',
        imports=("fmt", "os", "testing"),
    )
    result = await validate(client, "go", FIB, tests)
    assert result["status"] == expected, (result["message"], result["output"])
    if calls_run:
        assert statuses(result) == {"TestTen": "passed"} and "teardown" in result["output"]


FUZZ_SUITE = go_tests(
    "func FuzzAdd(f *testing.F) {\n\tf.Add(1, 2)\n\tf.Add(5, 5)\n"
    '\tf.Fuzz(func(t *testing.T, a, b int) {\n\t\tif Add(a, b) != a+b {\n\t\t\tt.Errorf("Add(%d, %d) = %d", a, b, Add(a, b))\n\t\t}\n\t})\n}',
    "func ExampleAdd() {\n\tfmt.Println(Add(2, 2))\n\t// Output: 4\n}",
    "func ExampleAdd_noOutputComment() {\n\tfmt.Println(Add(2, 2))\n}",
    imports=("fmt", "testing"),
)
CORPUS = [{"name": "testdata/fuzz/FuzzAdd/corpus1", "content": "go test fuzz v1\nint(7)\nint(8)\n"}]


@pytest.mark.parametrize("solution, expected", [(WRONG_ADD.replace("a - b", "a + b"), "passed"), (WRONG_ADD, "failed")])
async def test_fuzz_seed_corpora_and_examples(client, solution, expected):
    result = await validate(client, "go", solution, FUZZ_SUITE, files=CORPUS)
    assert result["status"] == expected, (result["message"], result["output"])
    names = ["ExampleAdd", "FuzzAdd/seed#0", "FuzzAdd/seed#1", "FuzzAdd/corpus1"]
    assert statuses(result) == dict.fromkeys(names, expected)
    if expected == "failed":
        assert "Add(7, 8) = -1" in statuses_messages(result)["FuzzAdd/corpus1"]


async def test_closing_stdout_keeps_the_counts(client):
    """Results travel over phronosd's own channel, not the binary's stdout."""
    tests = go_tests(
        "func TestClose(t *testing.T) {\n\tos.Stdout.Close()\n\tos.Stderr.Close()\n}",
        "func TestAfter(t *testing.T) {}",
        imports=("os", "testing"),
    )
    result = await validate(client, "go", FIB, tests)
    assert result["status"] == "passed", (result["message"], result["output"])
    assert statuses(result) == {"TestClose": "passed", "TestAfter": "passed"}


async def test_run_measures_every_top_level_test(client):
    solution, tests = example("go")
    result = await run(client, "go", solution, tests, runs=20, warmup=2, includeSamples=True)
    assert result["status"] == "passed", result["output"]
    m = result["measurement"]
    assert m["runs"] == 20 and m["warmup"] == 2 and m["notes"] == []
    assert len(m["samplesMs"]) == 20
    assert [t["name"] for t in m["perTest"]] == [t["name"] for t in result["tests"]]
    assert m["medianMs"] < result["timings"]["containerMs"]


async def test_run_times_parallel_tests_to_completion(client):
    tests = go_tests(
        "func TestSerial(t *testing.T) {\n\ttime.Sleep(2 * time.Millisecond)\n}",
        "func TestParallelSleep(t *testing.T) {\n\tt.Parallel()\n\ttime.Sleep(3 * time.Millisecond)\n}",
        'func TestTable(t *testing.T) {\n\tt.Run("a", func(t *testing.T) {\n\t\tt.Parallel()\n\t\ttime.Sleep(time.Millisecond)\n\t})\n}',
        imports=("testing", "time"),
    )
    result = await run(client, "go", FIB, tests, runs=5, warmup=1)
    assert result["status"] == "passed", result["output"]
    per_test = {t["name"]: t["medianMs"] for t in result["measurement"]["perTest"]}
    assert per_test["TestSerial"] >= 2 and per_test["TestParallelSleep"] >= 3 and per_test["TestTable"] >= 1


STEP_PIPE_PROBE = go_tests(
    """// pipes: the pipes among a process's descriptors above 2, anonymous or FIFOs (a compare job's step
// pipe is a FIFO, unlinked once open), by their link's text.
func pipes(pid string) map[string]bool {
	found := map[string]bool{}
	entries, _ := os.ReadDir("/proc/" + pid + "/fd")
	for _, entry := range entries {
		target, err := os.Readlink("/proc/" + pid + "/fd/" + entry.Name())
		info, statErr := os.Stat("/proc/" + pid + "/fd/" + entry.Name())
		if n, _ := strconv.Atoi(entry.Name()); n > 2 && err == nil && statErr == nil && info.Mode()&os.ModeNamedPipe != 0 {
			found[target] = true
		}
	}
	return found
}

// The measuring binary (run without test2json) of a compare job holds the step pipe; the variable
// naming it is gone and no program it starts holds the pipe.
func TestStepPipeStaysInTheBinary(t *testing.T) {
	if Fib(10) != 55 {
		t.Fatal("Fib(10)")
	}
	for _, variable := range os.Environ() {
		if strings.HasPrefix(variable, "PHRONOSD_") {
			t.Fatal("left in the environment: " + variable)
		}
	}
	own := pipes("self")
	if len(own) == 0 && !slices.Contains(os.Args, "-test.v=test2json") {
		t.Fatal("measured without a step pipe")
	}
	out, err := exec.Command("sh", "-c", "for fd in /proc/$$/fd/*; do readlink $fd; done; true").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range strings.Fields(string(out)) {
		if own[target] {
			t.Fatal("a child process holds " + target)
		}
	}
}""",
    imports=("os", "os/exec", "slices", "strconv", "strings", "testing"),
)


async def test_a_compare_jobs_step_pipe_stays_in_the_measuring_binary(client):
    """The probe fails (and its measurement stops) if, while measured, it does not find the step pipe
    among its own descriptors, finds a PHRONOSD_ variable, or finds the pipe in a child process: a
    complete measurement of both solutions says none of that happened."""
    solution = example("go")[0]
    result = await compare(client, "go", STEP_PIPE_PROBE, {"a": solution, "b": solution}, runs=10)
    for entry in result["solutions"]:
        assert entry["status"] == "passed", (entry["tests"], entry["output"][-2000:])
        assert entry["measurement"] and entry["measurement"]["runs"] == 10, entry
