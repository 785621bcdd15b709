"""Go end to end: real app, real containers, real `go test` binaries."""

from __future__ import annotations

import pytest

from helpers import example, run, statuses, validate

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


async def test_external_test_package(client):
    tests = (
        'package solution_test\n\nimport (\n\t"testing"\n\n\t"solution"\n)\n\n'
        "func TestTen(t *testing.T) {\n\tif solution.Fib(10) != 55 {\n\t\tt.Fatal(\"Fib(10)\")\n\t}\n}\n"
    )
    result = await run(client, "go", FIB, tests, runs=5, warmup=1)
    assert result["status"] == "passed", result["output"]
    assert result["measurement"]["runs"] == 5


@pytest.mark.parametrize(
    "solution, tests, expected",
    [
        ("package solution\n\nfunc Fib(n int) int {\n\treturn n +\n}\n", go_tests("func TestX(t *testing.T) {}"), "solution.go:5"),
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


async def test_newer_go_in_go_mod_is_a_clear_compile_error(client):
    files = [{"name": "go.mod", "content": "module solution\n\ngo 1.99\n"}]
    result = await validate(client, "go", FIB, go_tests("func TestX(t *testing.T) {}"), files=files)
    assert result["status"] == "compile_error"
    assert "go >= 1.99" in result["message"] and "GOTOOLCHAIN=local" in result["message"]


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
    tests = go_tests("func TestFirst(t *testing.T) {}", f"func TestExits(t *testing.T) {{\n\t{exit_call}\n}}", imports=("os", "testing"))
    result = await validate(client, "go", FIB, tests)
    assert result["status"] == "runtime_error" and result["passed"] is False
    assert statuses(result)["TestExits"] == "failed"


async def test_infinite_loop_times_out(client):
    result = await validate(client, "go", FIB, go_tests("func TestForever(t *testing.T) {\n\tfor {\n\t}\n}"), timeoutMs=3000)
    assert result["status"] == "timeout" and result["passed"] is False


async def test_memory_growth_is_memory_limit(client):
    body = (
        "func TestGrow(t *testing.T) {\n\tvar blocks [][]byte\n\tfor {\n"
        "\t\tb := make([]byte, 16<<20)\n\t\tfor i := range b {\n\t\t\tb[i] = 1\n\t\t}\n"
        "\t\tblocks = append(blocks, b)\n\t}\n}"
    )
    result = await validate(client, "go", FIB, go_tests(body), memoryMb=256)
    assert result["status"] == "memory_limit", result


async def test_network_is_unreachable(client):
    body = (
        "func TestDial(t *testing.T) {\n"
        '\tif _, err := net.DialTimeout("tcp", "1.1.1.1:53", 2*time.Second); err == nil {\n\t\tt.Fatal("dialled out")\n\t}\n'
        '\tif _, err := net.LookupHost("deb.debian.org"); err == nil {\n\t\tt.Fatal("resolved a name")\n\t}\n}'
    )
    result = await validate(client, "go", FIB, go_tests(body, imports=("net", "testing", "time")))
    assert result["status"] == "passed", result["output"]


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
        "func TestTable(t *testing.T) {\n\tt.Run(\"a\", func(t *testing.T) {\n\t\tt.Parallel()\n\t\ttime.Sleep(time.Millisecond)\n\t})\n}",
        imports=("testing", "time"),
    )
    result = await run(client, "go", FIB, tests, runs=5, warmup=1)
    assert result["status"] == "passed", result["output"]
    per_test = {t["name"]: t["medianMs"] for t in result["measurement"]["perTest"]}
    assert per_test["TestSerial"] >= 2 and per_test["TestParallelSleep"] >= 3 and per_test["TestTable"] >= 1


async def test_run_of_a_mixed_suite_has_no_measurement(client):
    result = await run(client, "go", FIB, MIXED_SUITE, runs=5)
    assert result["status"] == "failed" and result["measurement"] is None
