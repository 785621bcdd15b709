package runner

import (
	"testing"
	"time"
)

// matchAll selects every test and subtest: the harness already selected Test__phronosd itself.
func matchAll(pattern, name string) (bool, error) {
	return true, nil
}

// Run is the body of Test__phronosd, the one test function the harness selects: it validates the
// suite or, in the measure phase, times it.
func Run(t *testing.T) {
	if !active() {
		t.Skip("not started by phronosd")
	}
	if !claim("Run") {
		t.FailNow()
	}
	if job.measuring {
		measure(t)
		return
	}
	if !validate() {
		t.Fail()
	}
	partDone()
}

// validate runs the registered tests as `go test` runs its top-level tests (same names, same
// parallelism), then the examples; it reports each one and returns whether all passed.
func validate() bool {
	passed := true
	if len(registered.tests) > 0 {
		wrapped := make([]testing.InternalTest, len(registered.tests))
		for i, test := range registered.tests {
			wrapped[i] = reporting(test)
		}
		passed = testing.RunTests(matchAll, wrapped)
	}
	for _, example := range registered.examples {
		passed = runExample(example) && passed
	}
	return passed
}

// reporting wraps a top-level test so that its outcome is reported once it is over: its first
// registered Cleanup runs after the test, all its subtests (parallel ones too) and its other Cleanup
// functions.
func reporting(test testing.InternalTest) testing.InternalTest {
	return testing.InternalTest{Name: test.Name, F: func(t *testing.T) {
		begin := time.Now()
		returned := false
		t.Cleanup(func() { report(test.Name, outcome(t, returned), time.Since(begin)) })
		test.F(t)
		returned = true
	}}
}

// outcome of a test whose body returned or not: a body that neither returned nor failed nor skipped
// panicked or called runtime.Goexit, which the testing package turns into a failure afterwards.
func outcome(tb testing.TB, returned bool) string {
	switch {
	case tb.Failed() || (!returned && !tb.Skipped()):
		return "failed"
	case tb.Skipped():
		return "skipped"
	}
	return "passed"
}

func runExample(example testing.InternalExample) bool {
	begin := time.Now()
	passed := testing.RunExamples(matchAll, []testing.InternalExample{example})
	status := "failed"
	if passed {
		status = "passed"
	}
	report(example.Name, status, time.Since(begin))
	return passed
}

// Fuzz is the body of phronosd's generated fuzz target Fuzz__phronosd_<index>: it runs the
// registered fuzz target of that index (its seed corpus, as `go test` does without -fuzz) under this
// F, whose corpus folder the harness links to the target's own, and reports its outcome.
func Fuzz(f *testing.F, index int) {
	if !active() || index >= len(registered.fuzz) {
		f.Skip("not started by phronosd")
	}
	target := registered.fuzz[index]
	if !claim(target.Name) {
		f.FailNow()
	}
	begin := time.Now()
	returned := false
	f.Cleanup(func() {
		report(target.Name, outcome(f, returned), time.Since(begin))
		partDone()
	})
	target.Fn(f)
	returned = true
}
