#pragma once
// The names of the temporary files certheal writes beside a file before renaming them over it
// (state.json, status.json, certheal.prom, a trust_ca bundle): "." + the file's name +
// ".certheal-" + 12 random letters and digits. Random, so nobody can plant something at the
// name in advance; hidden and not ending like the file, so a collector that reads *.prom never
// picks one up; recognisable, so what a killed rewrite left behind can be removed later.

#include <string>
#include <string_view>

namespace certheal {

// A fresh temporary name for `file_name` (a name, not a path).
std::string temporary_name_for(std::string_view file_name);

// Whether `name` is one of temporary_name_for's names (for any file).
bool is_temporary_name(std::string_view name);

// Whether `name` is a temporary of `file_name` in particular.
bool is_temporary_name_of(std::string_view name, std::string_view file_name);

// The fixed temporary names of certheal versions before this one ("state.json.tmp",
// "status.json.tmp", "certheal.prom.tmp", "certheal.pid.tmp"): a leftover is removed like one
// of the random names.
bool is_legacy_temporary_name(std::string_view name);

}  // namespace certheal
