// libFuzzer harness: certheal.json as an attacker or a broken editor writes it. parse_config must
// turn any bytes into a config or a list of issues: no crash, no hang, no exception.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "known_defects.hpp"

namespace {

// Deeper than this, show()'s recursive dump may overflow the stack (known defect): here from
// ~55000 levels on Linux's 8 MiB main stack under ASan, far fewer on a 1 MiB Windows thread.
constexpr std::size_t kKnownSafeNesting = 10000;
// More "(" than this in a rejection_pattern may overflow the stack of std::regex's compiler
// (known defect): here from between 5000 and 10000 nested groups.
constexpr std::size_t kKnownSafeRegexGroups = 2500;

// A fixed place the config "was read from": relative paths in it resolve there. Nothing is
// created, so every relative file is missing and each run behaves the same.
const std::filesystem::path& config_source() {
    static const std::filesystem::path source =
        std::filesystem::temp_directory_path() / "certheal-config-fuzz" / "certheal.json";
    return source;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const bool skip_known = certheal::fuzz::skipping_known_defects();
    if (skip_known && (certheal::fuzz::nested_deeper_than(text, kKnownSafeNesting) ||
                       certheal::fuzz::has_regex_count_beyond_long(text) ||
                       certheal::fuzz::has_many_regex_groups(text, kKnownSafeRegexGroups))) {
        return -1;
    }

    const certheal::ConfigContext context{"/tmp/state", false};
    certheal::ConfigLoad load;
    if (!skip_known) {
        // No try here: an exception must reach std::terminate from where it was thrown, so the
        // report shows that stack.
        load = certheal::parse_config(text, config_source(), context);
    } else {
        try {
            load = certheal::parse_config(text, config_source(), context);
        } catch (const nlohmann::json::out_of_range& error) {
            // Known defect: a number beyond double ("1E400") escapes parse_config as
            // out_of_range 406 instead of becoming a config issue. Anything else propagates.
            if (error.id == 406) return -1;
            throw;
        }
    }
    for (const auto& issue : load.issues) (void)certheal::format_issue(issue);
    if (load.config) {
        for (const auto& step : load.config->remediation.steps) (void)certheal::describe_step(step);
    }
    return 0;
}
