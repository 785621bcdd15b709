// Package runner is phronosd's code inside a Go test binary. It runs the suite's top-level tests,
// examples and fuzz seed corpora and reports each one's outcome (validation), or times the tests
// (measurement), over phronosd's private results channel.
//
// Every package of the submission imports this one (phronosd adds the import), so Go initialises it
// first: its init reads the channel's token from a one-shot pipe and closes that pipe before any
// submitted code runs. Each record it writes starts with the token, which the code under test never
// sees through any API: what it prints, or writes to the results fd, is not counted by the harness.
//
// The init also makes the process non-dumpable: its /proc/self/mem (where the token is), fd and
// environ files then belong to root, and the code under test (another user's files to it) cannot
// open them; nor can a process it starts ptrace this one.
package runner

import (
	"bufio"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// started is this process's first clock reading: measurement reports its elapsed time from here.
var started = time.Now()

// channel is the results pipe and the token that authenticates each line written to it.
type channel struct {
	mu       sync.Mutex
	prefix   []byte
	fd       uintptr
	pipe     syscall.Stat_t // what the results fd was when the channel opened
	poisoned bool
}

var results *channel

func init() {
	syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_DUMPABLE, 0, 0)
	results = openChannel()
	readMeasureJob()
	for _, variable := range os.Environ() {
		if name, _, _ := strings.Cut(variable, "="); strings.HasPrefix(name, "PHRONOSD_") {
			os.Unsetenv(name)
		}
	}
}

// openChannel takes the token from its pipe (then closed) and the results fd (kept out of child
// processes); nil when the binary was not started by phronosd.
func openChannel() *channel {
	tokenFd, err := strconv.Atoi(os.Getenv("PHRONOSD_TOKEN_FD"))
	if err != nil {
		return nil
	}
	resultsFd, err := strconv.Atoi(os.Getenv("PHRONOSD_RESULTS_FD"))
	if err != nil {
		return nil
	}
	token := readToken(tokenFd)
	if token == "" {
		return nil
	}
	syscall.CloseOnExec(resultsFd)
	c := &channel{prefix: []byte(token + " "), fd: uintptr(resultsFd)}
	if syscall.Fstat(resultsFd, &c.pipe) != nil {
		return nil
	}
	return c
}

func readToken(fd int) string {
	pipe := os.NewFile(uintptr(fd), "phronosd-token")
	defer pipe.Close()
	line, _ := bufio.NewReader(pipe).ReadString('\n')
	return strings.TrimSpace(line)
}

// send writes one record as a single write, a line led by a newline (a partial line the code under
// test left in the pipe ends there) and behind the token, unless the results fd no longer is the
// pipe it was: code under test that put a pipe of its own there (dup2) would read the token.
func (c *channel) send(record any) {
	line, _ := json.Marshal(record)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.poisoned && !c.moved() {
		c.write(append(append(append([]byte{'\n'}, c.prefix...), line...), '\n'))
	}
}

// moved says whether the results fd now refers to another file; the channel then stays silent.
func (c *channel) moved() bool {
	var now syscall.Stat_t
	_, errno := rawCall(syscall.SYS_FSTAT, c.fd, uintptr(unsafe.Pointer(&now)), 0)
	if errno != 0 || now.Dev != c.pipe.Dev || now.Ino != c.pipe.Ino {
		c.poisoned = true
	}
	return c.poisoned
}

// write writes the whole record with raw system calls (rawCall).
func (c *channel) write(record []byte) {
	for len(record) > 0 {
		written, errno := rawCall(syscall.SYS_WRITE, c.fd, uintptr(unsafe.Pointer(&record[0])), uintptr(len(record)))
		if errno != 0 || written == 0 {
			return
		}
		record = record[written:]
	}
}

// rawCall makes a system call without telling Go's scheduler (RawSyscall), retrying when a signal
// interrupted it. A compare job's driver stops this process (SIGSTOP) between its timed runs, right
// after its record, while it waits for the next step. Had it stopped in an ordinary system call,
// Go's monitor thread (sysmon) would find it there once continued, take the processor back, and then
// wake every 20 µs on the measuring core through the next timed run: that run took 1.37 times as
// long (a third of Go's compare runs did). Its callers pass pointers to their own variables as
// uintptr: uintptrescapes puts those on the heap, where a stack growth in this call cannot move them.
//
//go:uintptrescapes
func rawCall(number, a1, a2, a3 uintptr) (uintptr, syscall.Errno) {
	for {
		result, _, errno := syscall.RawSyscall(number, a1, a2, a3)
		if errno != syscall.EINTR {
			return result, errno
		}
	}
}

// poison reports that phronosd's code was called by the code under test, then stops reporting: the
// harness never sees this run end.
func (c *channel) poison(reason string) {
	c.send(map[string]string{"tampered": reason})
	c.mu.Lock()
	c.poisoned = true
	c.mu.Unlock()
}
