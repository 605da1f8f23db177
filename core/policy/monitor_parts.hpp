#pragma once
// What the monitor's files share (monitor.cpp, monitor_repair.cpp, monitor_certificates.cpp,
// monitor_status.cpp). Internal to them.

#include <chrono>
#include <cstddef>
#include <string>

#include "core/base/clock.hpp"

namespace certheal::monitor_detail {

// A host trust diagnosis younger than this is good enough for a symptom or a repair: the one made
// when the symptom was confirmed serves the repair that follows at once.
inline constexpr Duration kFreshDiagnosis = std::chrono::seconds(10);

}  // namespace certheal::monitor_detail
