// phronosd's main for GoogleTest suites, linked into every test binary (built once in the image).
//
//   tests             validate: run the suite once with gtest's usual output; send the list of tests,
//                     when each starts and how it ended (so a crash can be told), then an end marker
//   tests --measure   time the tests named in PHRONOSD_MEASURE_TESTS warm-up + runs times (within
//                     PHRONOSD_BUDGET_MS) without gtest's printer; send the records documented in
//                     phronosd_harness.py (names, one row of ns per run, the end with elapsedNs)
//
// Records go to the harness's private channel (phronosd_harness.PrivateChannel): PHRONOSD_RESULTS_FD,
// each line behind a per-run token that a .preinit_array function reads from its one-shot pipe
// (PHRONOSD_TOKEN_FD) before any constructor of the submitted code runs (the harness refuses a binary
// with any other .preinit_array entry or an ifunc, whose resolver would run earlier still). The token
// only ever passes through the raw read and writev system calls, never through a libc function the
// submission could replace, and each record is one write that starts with a newline: bytes the code
// under test writes to that fd can neither forge a record nor glue themselves in front of one.
//
// A compare job's step pipe (PHRONOSD_STEP_FD, taken in the same .preinit_array function and made
// close-on-exec): one byte read before each timed run, acknowledged with a {"step": n} record. The
// fd must stay the pipe it was at start-up, and what is in it before a record the driver answers
// with a byte is discarded: code under test that writes into it (through /proc/self/fd) or puts
// another file in its place cannot start timed runs the driver did not ask for.
//
// Timing is gtest's OnTestStart..OnTestEnd span of each test: fixture construction, SetUp, the body,
// TearDown and destruction (this listener is the last to see the start and the first to see the end).
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// A record must fit one atomic pipe write (PIPE_BUF, 4096 bytes) with the token around it.
constexpr size_t kMessageLimit = 3000;

// ---- the private channel ----

char token[128];
size_t token_length = 0;
int results_fd = -1;

// Until the token is read, no library function is called but `syscall` (the harness refuses a binary
// that defines it): a definition in the submission would take the library's place and run first.

// The value of NAME in envp, the environment the loader passes to .preinit_array functions.
const char* env_value(char** envp, const char* name) {
  for (char** var = envp; var != nullptr && *var != nullptr; ++var) {
    const char* text = *var;
    const char* wanted = name;
    while (*wanted != '\0' && *text == *wanted) ++text, ++wanted;
    if (*wanted == '\0' && *text == '=') return text + 1;
  }
  return nullptr;
}

int fd_number(const char* text) {
  if (text == nullptr || *text == '\0') return -1;
  int fd = 0;
  for (; *text >= '0' && *text <= '9'; ++text) fd = fd * 10 + (*text - '0');
  return *text == '\0' ? fd : -1;
}

// Reads the token line, then closes its pipe. Submitted code that read the pipe first (it cannot run
// before this function) would leave the token empty, and nothing would ever be sent.
void read_token(int fd) {
  char c;
  while (token_length < sizeof token && syscall(SYS_read, fd, &c, 1) == 1 && c != '\n') token[token_length++] = c;
  syscall(SYS_close, fd);
}

// ---- the step pipe (compare jobs) ----

int step_fd = -1;
struct stat step_pipe;

bool same_file(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

// The step pipe is still the one phronosd was given (not another file moved onto its fd).
bool step_pipe_kept() {
  struct stat now;
  return syscall(SYS_fstat, step_fd, &now) == 0 && same_file(now, step_pipe);
}

void take_step_pipe(int fd) {
  if (fd < 0 || syscall(SYS_fstat, fd, &step_pipe) != 0) return;
  syscall(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC);
  step_fd = fd;
}

// Blocks until the driver's next step; false at the end of the pipe (or if the pipe was replaced).
bool next_step() {
  char byte;
  while (step_pipe_kept()) {
    long got = syscall(SYS_read, step_fd, &byte, 1);
    if (got == 1) return true;
    if (got == 0 || errno != EINTR) return false;
  }
  return false;
}

// Takes out what is in the step pipe before the record the driver's next byte answers: the driver
// writes that byte only after the record, so anything there now was written by the code under test.
void discard_early_steps() {
  char bytes[64];
  pollfd ready = {step_fd, POLLIN, 0};
  timespec now = {0, 0};
  while (syscall(SYS_ppoll, &ready, 1, &now, nullptr, 0) == 1 && (ready.revents & POLLIN) != 0 &&
         syscall(SYS_read, step_fd, bytes, sizeof bytes) > 0) {
  }
}

// Runs from .preinit_array, before every .init_array constructor (the submission's included).
void open_channel(int, char**, char** envp) {
  int token_fd = fd_number(env_value(envp, "PHRONOSD_TOKEN_FD"));
  results_fd = fd_number(env_value(envp, "PHRONOSD_RESULTS_FD"));
  if (token_fd < 0 || results_fd < 0) return;
  read_token(token_fd);
  syscall(SYS_fcntl, results_fd, F_SETFD, FD_CLOEXEC);
  take_step_pipe(fd_number(env_value(envp, "PHRONOSD_STEP_FD")));
}

__attribute__((section(".preinit_array"), used)) void (*open_channel_entry)(int, char**, char**) = &open_channel;

// A child forked by the code under test (or by a death test) must neither write to the results pipe
// nor keep it open (the harness reads it to its end), nor take the driver's steps.
void close_channel_in_child() {
  if (results_fd >= 0) syscall(SYS_close, results_fd);
  if (step_fd >= 0) syscall(SYS_close, step_fd);
  results_fd = step_fd = -1;
}

// "\n<token> <json>\n" in one writev; a short write is finished where it stopped.
void send(const std::string& json) {
  if (token_length == 0 || results_fd < 0) return;
  iovec parts[] = {{const_cast<char*>("\n"), 1},
                   {token, token_length},
                   {const_cast<char*>(" "), 1},
                   {const_cast<char*>(json.data()), json.size()},
                   {const_cast<char*>("\n"), 1}};
  iovec* next = parts;
  int left = sizeof parts / sizeof parts[0];
  while (left > 0) {
    long written = syscall(SYS_writev, results_fd, next, left);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return;
    for (; left > 0 && static_cast<size_t>(written) >= next->iov_len; --left, ++next) written -= next->iov_len;
    if (left > 0) {
      next->iov_base = static_cast<char*>(next->iov_base) + written;
      next->iov_len -= written;
    }
  }
}

// ---- JSON ----

// A JSON string of TEXT, cut (with a mark) so that it stays within LIMIT bytes.
std::string json_string(const std::string& text, size_t limit = kMessageLimit) {
  static const std::string cut = "... (truncated)";
  std::string out = "\"";
  for (unsigned char c : text) {
    char escaped[8];
    switch (c) {
      case '"': std::strcpy(escaped, "\\\""); break;
      case '\\': std::strcpy(escaped, "\\\\"); break;
      case '\n': std::strcpy(escaped, "\\n"); break;
      case '\r': std::strcpy(escaped, "\\r"); break;
      case '\t': std::strcpy(escaped, "\\t"); break;
      default:
        if (c < 0x20) {
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
        } else {
          escaped[0] = static_cast<char>(c);
          escaped[1] = '\0';
        }
    }
    if (out.size() + std::strlen(escaped) + cut.size() + 1 > limit) return out + cut + "\"";
    out += escaped;
  }
  return out + "\"";
}

std::string json_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return "[" + out + "]";
}

// ---- gtest ----

std::string test_name(const testing::TestInfo& info) {
  return std::string(info.test_suite_name()) + "." + info.name();
}

std::vector<const testing::TestInfo*> registered_tests() {
  std::vector<const testing::TestInfo*> tests;
  const testing::UnitTest& unit = *testing::UnitTest::GetInstance();
  for (int i = 0; i < unit.total_test_suite_count(); ++i) {
    const testing::TestSuite& suite = *unit.GetTestSuite(i);
    for (int j = 0; j < suite.total_test_count(); ++j) tests.push_back(suite.GetTestInfo(j));
  }
  return tests;
}

// gtest's own rule (kDisableTestFilter, "DISABLED_*:*/DISABLED_*", on the suite and the test name).
bool disabled_name(const std::string& name) {
  return name.rfind("DISABLED_", 0) == 0 || name.find("/DISABLED_") != std::string::npos;
}

bool is_disabled(const testing::TestInfo& info) {
  return disabled_name(info.test_suite_name()) || disabled_name(info.name());
}

// Failure (or skip) text of a result: file:line and message of each such part.
std::string failure_text(const testing::TestResult& result) {
  std::string text;
  for (int i = 0; i < result.total_part_count(); ++i) {
    const testing::TestPartResult& part = result.GetTestPartResult(i);
    if (part.passed()) continue;
    if (!text.empty()) text += "\n";
    if (part.file_name() != nullptr) text += std::string(part.file_name()) + ":" + std::to_string(part.line_number()) + ": ";
    text += part.message();
  }
  return text;
}

// An uncaught exception is an error, a failed assertion a failure.
bool threw(const testing::TestResult& result) {
  for (int i = 0; i < result.total_part_count(); ++i) {
    std::string message = result.GetTestPartResult(i).message();
    if (message.find("C++ exception with description") != std::string::npos ||
        message.find("Unknown C++ exception thrown") != std::string::npos) {
      return true;
    }
  }
  return false;
}

void send_result(const std::string& name, const std::string& status, double ms, const std::string& message) {
  std::string text = message.empty() && status == "passed" ? "null" : json_string(message);
  send("{\"name\":" + json_string(name) + ",\"status\":\"" + status + "\",\"durationMs\":" + std::to_string(ms) +
       ",\"message\":" + text + "}");
}

// Every test gtest knows, and a skipped result for each disabled one (gtest runs none of them, and
// tells a listener about them only when their suite has a test that runs).
void send_test_list() {
  std::vector<std::string> names;
  for (const testing::TestInfo* info : registered_tests()) names.push_back(json_string(test_name(*info)));
  send("{\"tests\":" + json_list(names) + "}");
  for (const testing::TestInfo* info : registered_tests()) {
    if (is_disabled(*info)) send_result(test_name(*info), "skipped", 0, "disabled");
  }
}

// Failures outside any test (SetUpTestSuite, TearDownTestSuite, a global Environment) fail the run
// in gtest; each becomes a failed entry of its own.
void send_failures_outside_tests() {
  const testing::UnitTest& unit = *testing::UnitTest::GetInstance();
  for (int i = 0; i < unit.total_test_suite_count(); ++i) {
    const testing::TestSuite& suite = *unit.GetTestSuite(i);
    if (suite.ad_hoc_test_result().Failed()) {
      send_result(std::string(suite.name()) + " (SetUpTestSuite/TearDownTestSuite)", "failed", 0,
                  failure_text(suite.ad_hoc_test_result()));
    }
  }
  if (unit.ad_hoc_test_result().Failed()) {
    send_result("(global set-up/tear-down)", "failed", 0, failure_text(unit.ad_hoc_test_result()));
  }
}

class Validator : public testing::EmptyTestEventListener {
 public:
  void OnTestStart(const testing::TestInfo& info) override {
    send("{\"start\":" + json_string(test_name(info)) + "}");
    started_ = Clock::now();
  }

  void OnTestEnd(const testing::TestInfo& info) override {
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
    const testing::TestResult& result = *info.result();
    std::string status = result.Skipped() ? "skipped" : result.Passed() ? "passed" : threw(result) ? "error" : "failed";
    send_result(test_name(info), status, ms, status == "passed" ? "" : failure_text(result));
  }

 private:
  Clock::time_point started_;
};

long long timer_resolution_ns() {
  long long best = 1LL << 62;
  for (int i = 0; i < 200; ++i) {
    auto start = Clock::now();
    auto now = Clock::now();
    while (now == start) now = Clock::now();
    best = std::min<long long>(best, std::chrono::duration_cast<std::chrono::nanoseconds>(now - start).count());
  }
  return best;
}

long long env_number(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? 0 : std::atoll(value);
}

std::vector<std::string> lines_of(const char* text) {
  std::vector<std::string> lines;
  std::string rest = text == nullptr ? "" : text;
  for (size_t start = 0; start < rest.size();) {
    size_t end = std::min(rest.find('\n', start), rest.size());
    if (end > start) lines.push_back(rest.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// A gtest filter pattern that matches NAME: its filter syntax characters stand for themselves as '?'.
std::string filter_pattern(std::string name) {
  for (char& c : name) {
    if (c == ':' || c == '*' || c == '?' || c == '-') c = '?';
  }
  return name;
}

class Measurer : public testing::EmptyTestEventListener {
 public:
  Measurer(const std::vector<std::string>& names, int warmup, int total, long long budget_ns)
      : row_(names.size(), -1), warmup_(warmup), total_(total), first_(Clock::now()),
        deadline_(first_ + std::chrono::nanoseconds(budget_ns)) {
    for (size_t i = 0; i < names.size(); ++i) column_[names[i]] = i;
  }

  // A timed run of a compare job waits for the driver's step; the end of the step pipe ends measuring.
  void OnTestIterationStart(const testing::UnitTest&, int iteration) override {
    if (stepped(iteration) && !next_step()) finish();
  }

  void OnTestStart(const testing::TestInfo&) override { started_ = Clock::now(); }

  void OnTestEnd(const testing::TestInfo& info) override {
    auto elapsed = Clock::now() - started_;
    auto column = column_.find(test_name(info));
    if (column == column_.end()) return;
    if (!info.result()->Passed() || info.result()->Skipped()) {
      send("{\"failed\":" + json_string(column->first) + "}");
      finish();
    }
    row_[column->second] = std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count();
  }

  // One row per completed run, warm-up runs included; a run that missed a test ends the measurement.
  // The budget ends the warm-up; after it, in a compare job, the driver's steps alone decide. Before
  // a timed run the step pipe is emptied ahead of the record the driver's next byte answers (the
  // last warm-up row: the harness then says `stepping`; a timed run's acknowledgement).
  void OnTestIterationEnd(const testing::UnitTest&, int iteration) override {
    if (std::find(row_.begin(), row_.end(), -1) != row_.end()) finish();
    if (stepped(iteration + 1)) discard_early_steps();
    std::vector<std::string> ns;
    for (long long value : row_) ns.push_back(std::to_string(value));
    send("{\"ns\":" + json_list(ns) + "}");
    std::fill(row_.begin(), row_.end(), -1);
    if (stepped(iteration)) send("{\"step\":" + std::to_string(iteration + 1 - warmup_) + "}");
    if (iteration + 1 >= total_ || (!stepped(iteration + 1) && Clock::now() >= deadline_)) finish();
  }

  // Sends the end marker and ends the process at once: gtest cannot stop a --gtest_repeat loop early.
  [[noreturn]] void finish() {
    long long elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - first_).count();
    send("{\"end\":true,\"elapsedNs\":" + std::to_string(elapsed) + "}");
    std::_Exit(0);
  }

 private:
  bool stepped(int iteration) const { return step_fd >= 0 && iteration >= warmup_; }

  std::map<std::string, size_t> column_;
  std::vector<long long> row_;
  const int warmup_;
  const int total_;
  const Clock::time_point first_;
  const Clock::time_point deadline_;
  Clock::time_point started_;
};

// The flags a run depends on, whatever the environment or a constructor of the submission set.
void set_run_flags(const std::string& filter, int repeat) {
  GTEST_FLAG_SET(filter, filter);
  GTEST_FLAG_SET(repeat, repeat);
  GTEST_FLAG_SET(also_run_disabled_tests, false);
  GTEST_FLAG_SET(fail_fast, false);
  GTEST_FLAG_SET(shuffle, false);
}

int validate() {
  set_run_flags("*", 1);
  testing::UnitTest::GetInstance()->listeners().Append(new Validator);
  send_test_list();
  int code = RUN_ALL_TESTS();
  send_failures_outside_tests();
  bool passed = testing::UnitTest::GetInstance()->Passed();
  send(std::string("{\"end\":true,\"passed\":") + (passed ? "true" : "false") + "}");
  return code;
}

int measure() {
  std::vector<std::string> names = lines_of(std::getenv("PHRONOSD_MEASURE_TESTS"));
  std::vector<std::string> quoted, patterns;
  for (const auto& name : names) {
    quoted.push_back(json_string(name));
    patterns.push_back(filter_pattern(name));
  }
  int warmup = static_cast<int>(env_number("PHRONOSD_WARMUP"));
  int total = warmup + static_cast<int>(env_number("PHRONOSD_RUNS"));
  if (step_fd >= 0) discard_early_steps();  // without warm-up, the driver's first byte answers this record
  send("{\"tests\":" + json_list(quoted) + ",\"timerResolutionNs\":" + std::to_string(timer_resolution_ns()) + "}");
  testing::TestEventListeners& listeners = testing::UnitTest::GetInstance()->listeners();
  delete listeners.Release(listeners.default_result_printer());
  auto* measurer = new Measurer(names, warmup, total, env_number("PHRONOSD_BUDGET_MS") * 1000000LL);
  listeners.Append(measurer);
  if (names.empty() || total <= 0) measurer->finish();
  std::string filter;
  for (const auto& pattern : patterns) filter += (filter.empty() ? "" : ":") + pattern;
  set_run_flags(filter, total);
  return RUN_ALL_TESTS();  // the measurer ends the process after the last run
}

}  // namespace

int main(int argc, char** argv) {
  bool measuring = argc > 1 && std::strcmp(argv[1], "--measure") == 0;
  int gtest_argc = 1;
  testing::InitGoogleTest(&gtest_argc, argv);
  pthread_atfork(nullptr, nullptr, close_channel_in_child);
  return measuring ? measure() : validate();
}
