// libFuzzer harness: certheal.json as an attacker or a broken editor writes it. parse_config must
// turn any bytes into a config or a list of issues: no crash, no hang, no exception.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>

#include "config/config.hpp"
#include "core/describe/step_sentences.hpp"

namespace {

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
    const certheal::ConfigContext context{"/tmp/state", false};
    // No try here: an exception must reach std::terminate from where it was thrown, so the report
    // shows that stack.
    const certheal::ConfigLoad load = certheal::parse_config(text, config_source(), context);
    for (const auto& issue : load.issues) (void)certheal::format_issue(issue);
    if (load.config) {
        for (const auto& step : load.config->remediation.steps) (void)certheal::describe_step(step);
    }
    return 0;
}
