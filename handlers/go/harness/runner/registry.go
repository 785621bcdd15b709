package runner

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// suite is what phronosd's generated test file registers: the top-level tests, the examples that
// have an output comment and the fuzz targets, in the order `go test` runs them.
type suite struct {
	tests    []testing.InternalTest
	examples []testing.InternalExample
	fuzz     []testing.InternalFuzzTarget
}

var (
	mu         sync.Mutex
	registered *suite
	claimed    = map[string]bool{}
	reported   = map[string]bool{}
	// pending counts the parts of a validation still running: Test__phronosd and each fuzz target.
	pending int
)

// Register is called once, by the init of phronosd's generated test file. Any other call (from the
// code under test) poisons the channel, so a suite registered by anyone else never counts.
func Register(tests []testing.InternalTest, examples []testing.InternalExample, fuzz []testing.InternalFuzzTarget) {
	if !claim("Register") {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	registered = &suite{slices.Clone(tests), slices.Clone(examples), slices.Clone(fuzz)}
	pending = 1 + len(fuzz)
}

// active says whether this binary was started by phronosd and its suite registered.
func active() bool {
	return results != nil && registered != nil
}

// claim lets each part of phronosd's code run once per process; a second call poisons the channel.
func claim(part string) bool {
	mu.Lock()
	again := claimed[part]
	claimed[part] = true
	mu.Unlock()
	if again && results != nil {
		results.poison(part + " was called more than once: the code under test called phronosd's runner")
	}
	return !again
}

// report sends the outcome of one top-level test, example or fuzz target; a name reported twice
// poisons the channel.
func report(name, status string, took time.Duration) {
	mu.Lock()
	again := reported[name]
	reported[name] = true
	mu.Unlock()
	if again {
		results.poison(name + " was reported twice: the code under test called phronosd's runner")
		return
	}
	results.send(map[string]any{"test": name, "status": status, "ns": took.Nanoseconds()})
}

// partDone marks one part of the validation finished; after the last one, the end marker.
func partDone() {
	mu.Lock()
	pending--
	last := pending == 0
	mu.Unlock()
	if last {
		results.send(map[string]bool{"end": true})
	}
}
