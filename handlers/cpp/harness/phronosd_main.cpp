// phronosd's main for GoogleTest suites, linked into every test binary (built once in the image).
//
//   tests RESULTS_FILE              validate: run the suite once with gtest's usual output; write one
//                                   JSON line per test (and when each starts, so a crash can be told)
//   tests RESULTS_FILE --measure    repeat the suite warmup + runs times (PHRONOSD_WARMUP/RUNS, within
//                                   PHRONOSD_BUDGET_MS) without gtest's printer; write the contract's
//                                   `samples` and `measured` events
//
// Timing is gtest's OnTestStart..OnTestEnd span of each test: fixture construction, SetUp, the body,
// TearDown and destruction (this listener is the last to see the start and the first to see the end).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string test_name(const testing::TestInfo& info) {
  return std::string(info.test_suite_name()) + "." + info.name();
}

// Failure (or skip) text of a finished test: file:line and message of each such assertion.
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

class Lines {
 public:
  explicit Lines(const char* path) : file_(std::fopen(path, "w")) {
    if (file_ == nullptr) {
      std::perror(path);
      std::exit(70);
    }
  }
  // Flushed per line: a crash must not lose the lines of the tests that ran before it.
  void write(const std::string& line) {
    std::fputs((line + "\n").c_str(), file_);
    std::fflush(file_);
  }

 private:
  FILE* file_;
};

class Validator : public testing::EmptyTestEventListener {
 public:
  explicit Validator(Lines& out) : out_(out) {}

  void OnTestStart(const testing::TestInfo& info) override {
    out_.write("{\"start\":" + json_string(test_name(info)) + "}");
    started_ = Clock::now();
  }

  void OnTestDisabled(const testing::TestInfo& info) override {
    out_.write("{\"name\":" + json_string(test_name(info)) + ",\"status\":\"skipped\",\"durationMs\":0,\"message\":\"disabled\"}");
  }

  void OnTestEnd(const testing::TestInfo& info) override {
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
    const testing::TestResult& result = *info.result();
    std::string status = result.Skipped() ? "skipped" : result.Passed() ? "passed" : threw(result) ? "error" : "failed";
    std::string message = result.Passed() && !result.Skipped() ? "null" : json_string(failure_text(result));
    out_.write("{\"name\":" + json_string(test_name(info)) + ",\"status\":\"" + status +
               "\",\"durationMs\":" + std::to_string(ms) + ",\"message\":" + message + "}");
  }

  void OnTestProgramEnd(const testing::UnitTest&) override { out_.write("{\"end\":true}"); }

 private:
  Lines& out_;
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

class Measurer : public testing::EmptyTestEventListener {
 public:
  Measurer(Lines& out, int warmup, long long budget_ns)
      : out_(out), warmup_(warmup), deadline_(Clock::now() + std::chrono::nanoseconds(budget_ns)),
        resolution_(timer_resolution_ns()) {}

  void OnTestIterationStart(const testing::UnitTest&, int iteration) override { iteration_ = iteration; }

  void OnTestStart(const testing::TestInfo&) override { started_ = Clock::now(); }

  void OnTestEnd(const testing::TestInfo& info) override {
    auto elapsed = Clock::now() - started_;
    if (!info.result()->Passed() || info.result()->Skipped()) {
      notes_.push_back(test_name(info) + " failed while measured: " + failure_text(*info.result()));
      finish();
    }
    if (iteration_ >= warmup_) {
      series(test_name(info)).push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
    }
  }

  void OnTestIterationEnd(const testing::UnitTest&, int iteration) override {
    done_ = iteration + 1;
    if (Clock::now() >= deadline_) finish();
  }

  void OnTestProgramEnd(const testing::UnitTest&) override { finish(); }

 private:
  // Writes the events and ends the process at once: gtest cannot stop a --gtest_repeat loop early.
  [[noreturn]] void finish() {
    size_t runs = samples_.empty() ? 0 : std::max(0, done_ - warmup_);
    for (const auto& [name, ns] : samples_) runs = std::min(runs, ns.size());
    for (const auto& [name, ns] : samples_) {
      std::string list;
      for (size_t i = 0; i < runs; ++i) list += (i ? "," : "") + std::to_string(ns[i]);
      out_.write("{\"event\":\"samples\",\"test\":" + json_string(name) + ",\"ns\":[" + list + "]}");
    }
    std::string notes;
    for (const auto& note : notes_) notes += (notes.empty() ? "" : ",") + json_string(note);
    out_.write("{\"event\":\"measured\",\"warmup\":" + std::to_string(std::min(done_, warmup_)) +
               ",\"timerResolutionNs\":" + std::to_string(resolution_) + ",\"notes\":[" + notes + "]}");
    std::_Exit(0);
  }

  // The samples of one test, tests kept in the order they first ran.
  std::vector<long long>& series(const std::string& name) {
    for (auto& [known, ns] : samples_) {
      if (known == name) return ns;
    }
    return samples_.emplace_back(name, std::vector<long long>{}).second;
  }

  Lines& out_;
  const int warmup_;
  const Clock::time_point deadline_;
  const long long resolution_;
  int iteration_ = 0;
  int done_ = 0;
  Clock::time_point started_;
  std::vector<std::pair<std::string, std::vector<long long>>> samples_;
  std::vector<std::string> notes_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s RESULTS_FILE [--measure]\n", argv[0]);
    return 64;
  }
  bool measure = argc > 2 && std::string(argv[2]) == "--measure";
  int gtest_argc = 1;
  testing::InitGoogleTest(&gtest_argc, argv);
  static Lines out(argv[1]);
  testing::TestEventListeners& listeners = testing::UnitTest::GetInstance()->listeners();
  if (measure) {
    int warmup = static_cast<int>(env_number("PHRONOSD_WARMUP"));
    int total = warmup + static_cast<int>(env_number("PHRONOSD_RUNS"));
    GTEST_FLAG_SET(repeat, std::max(total, 1));
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new Measurer(out, warmup, env_number("PHRONOSD_BUDGET_MS") * 1000000LL));
  } else {
    listeners.Append(new Validator(out));
  }
  return RUN_ALL_TESTS();
}
