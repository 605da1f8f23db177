#pragma once
// The monitor's live status as a document: what the service writes to <state_dir>/status.json
// (atomically, whenever it changes) and what `certheal status` reads back and prints.

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "core/policy/monitor.hpp"

namespace certheal {

inline constexpr int kStatusVersion = 1;

// {"version", "generated_at", "pid", "remediation": {...}, "policy": {...}, "sites": [...]}: times
// in UTC (format_time_utc) or null, see docs/monitoring/README.md for every field.
nlohmann::json status_document(const MonitorStatus& status, long long pid);

// The same document as text, one site per line, built a site at a time: with thousands of
// sites the whole tree would cost megabytes of small allocations that the heap keeps.
std::string status_document_text(const MonitorStatus& status, long long pid);


}  // namespace certheal
