#pragma once
// `certheal history`: the journal, its rotated files oldest first, for people or as its JSON
// lines, filtered by time, site or incident; with --follow, new events as they come.

#include "core/base/clock.hpp"
#include "service/options.hpp"

namespace certheal::cli {

int command_history(const Options& options, const Clock& clock);

}  // namespace certheal::cli
