package runner

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// job is the measure phase's request, read at init (the harness sets PHRONOSD_MEASURE_TESTS only
// in that phase): the names to time, one per line, warm-up and timed runs, the time budget, and a
// compare job's step pipe.
var job struct {
	measuring bool
	names     []string
	warmup    int
	runs      int
	budget    time.Duration
	// step: the fd of a compare job's step pipe, one byte of it before each timed run (the driver's
	// budget, not budget, ends those); end of file: no more. -1 outside compare jobs.
	step int
}

func readMeasureJob() {
	list, measuring := os.LookupEnv("PHRONOSD_MEASURE_TESTS")
	job.measuring = measuring
	job.names = strings.Split(list, "\n")
	job.warmup = envInt("PHRONOSD_WARMUP")
	job.runs = envInt("PHRONOSD_RUNS")
	job.budget = time.Duration(envInt("PHRONOSD_BUDGET_MS")) * time.Millisecond
	job.step = stepPipe()
}

// stepPipe is a compare job's step pipe, close-on-exec: programs the tests start never hold it.
func stepPipe() int {
	fd, err := strconv.Atoi(os.Getenv("PHRONOSD_STEP_FD"))
	if err != nil || fd < 0 {
		return -1
	}
	syscall.CloseOnExec(fd)
	return fd
}

// nextStep waits for the driver's next step; false at the end of the pipe (or if it is gone). The
// read is raw (rawCall: the driver stops this process while it waits).
func nextStep() bool {
	var buffer [1]byte
	read, errno := rawCall(syscall.SYS_READ, uintptr(job.step), uintptr(unsafe.Pointer(&buffer[0])), 1)
	return errno == 0 && read == 1
}

func envInt(name string) int {
	value, _ := strconv.Atoi(os.Getenv(name))
	return value
}

// measure runs the selected tests warm-up + runs times, within the budget, and sends one row of ns
// per run, then the end marker with this process's elapsed time since its first clock reading.
func measure(t *testing.T) {
	tests := selected()
	names := make([]string, len(tests))
	for i, test := range tests {
		names[i] = test.Name
	}
	results.send(map[string]any{"tests": names, "timerResolutionNs": resolution()})
	runLoop(t, tests)
	results.send(map[string]any{"end": true, "elapsedNs": time.Since(started).Nanoseconds()})
}

// runLoop runs the warm-up, then the timed runs: within the budget, or in a compare job each after
// its byte from the step pipe, acknowledged with {"step": n} once its row is sent.
func runLoop(t *testing.T, tests []testing.InternalTest) {
	row := make([]int64, len(tests))
	begin := time.Now()
	for run := 0; run < job.warmup+job.runs; run++ {
		stepped := job.step >= 0 && run >= job.warmup
		if stepped && !nextStep() {
			return
		}
		if !stepped && time.Since(begin) >= job.budget {
			return
		}
		for i, test := range tests {
			ns, passed := timeOnce(t, test)
			if !passed {
				results.send(map[string]string{"failed": test.Name})
				return
			}
			row[i] = ns
		}
		results.send(map[string][]int64{"ns": row})
		if stepped {
			results.send(map[string]int{"step": run - job.warmup + 1})
		}
	}
}

// selected is the registered tests the harness asked for, in registration order.
func selected() []testing.InternalTest {
	wanted := map[string]bool{}
	for _, name := range job.names {
		wanted[name] = true
	}
	var tests []testing.InternalTest
	for _, test := range registered.tests {
		if wanted[test.Name] {
			tests = append(tests, test)
		}
	}
	return tests
}

// timeOnce runs one test body as the only subtest of a group: the group's t.Run returns when the
// body is done, even if it called t.Parallel. The clock stops in the body's first-registered Cleanup,
// which testing runs after the body, after all its subtests (parallel ones too) and after the test's
// own Cleanup functions. It starts after that registration (Cleanup records its caller's stack: about
// 0.45 µs). t.Run's goroutine start is not timed; a parallel test's pause in t.Parallel is.
func timeOnce(t *testing.T, test testing.InternalTest) (int64, bool) {
	var elapsed time.Duration
	passed := t.Run(test.Name, func(group *testing.T) {
		group.Run(test.Name, func(body *testing.T) {
			var begin time.Time
			body.Cleanup(func() { elapsed = time.Since(begin) })
			begin = time.Now()
			test.F(body)
		})
	})
	return elapsed.Nanoseconds(), passed
}

// resolution is the smallest step observed between two readings of the monotonic clock.
func resolution() int64 {
	best := int64(1 << 62)
	for i := 0; i < 200; i++ {
		first := time.Now()
		next := time.Now()
		for next.Sub(first) == 0 {
			next = time.Now()
		}
		if step := next.Sub(first).Nanoseconds(); step < best {
			best = step
		}
	}
	return best
}
