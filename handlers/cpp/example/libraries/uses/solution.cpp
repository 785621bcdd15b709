#include <Eigen/Core>
#include <boost/container/flat_map.hpp>
#include <fmt/format.h>
#include <string>
#include <vector>

// How often each word occurs, in a sorted flat map (Boost.Container).
boost::container::flat_map<std::string, int> word_counts(const std::vector<std::string>& words) {
  boost::container::flat_map<std::string, int> counts;
  for (const auto& word : words) ++counts[word];
  return counts;
}

// "a=2, b=1": the counts, formatted with fmt (linked from libfmt).
std::string describe(const boost::container::flat_map<std::string, int>& counts) {
  std::vector<std::string> parts;
  for (const auto& [word, count] : counts) parts.push_back(fmt::format("{}={}", word, count));
  return fmt::format("{}", fmt::join(parts, ", "));
}

// The n-th Fibonacci number from a power of [[1, 1], [1, 0]] (Eigen).
long long fib_by_matrix(int n) {
  Eigen::Matrix2d step;
  step << 1, 1, 1, 0;
  Eigen::Matrix2d power = Eigen::Matrix2d::Identity();
  for (int i = 0; i < n; ++i) power = power * step;
  return static_cast<long long>(power(0, 1) + 0.5);
}
