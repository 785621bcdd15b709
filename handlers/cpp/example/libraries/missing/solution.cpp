#include <absl/strings/str_join.h>
#include <string>
#include <vector>

std::string joined(const std::vector<std::string>& parts) { return absl::StrJoin(parts, ","); }
