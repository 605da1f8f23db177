// certheal.json in, core::Config out: the document's top level. Each section is read in its
// own file (sections.hpp lists them) with one JsonReader that collects every issue, so an
// admin sees every error of a config in one run of `certheal check-config`.
#include "config/config.hpp"

#include "config/json_reader.hpp"
#include "config/sections.hpp"
#include "core/base/bounded_input.hpp"

namespace certheal {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// A config of tens of thousands of sites stays far below this; a bigger file is not a config.
constexpr std::size_t kMaxConfigBytes = std::size_t{16} * 1024 * 1024;

void read_document(const SectionReading& reading, const json& document, Config& config) {
    JsonReader& reader = reading.reader;
    if (!reader.check_object(document, "", {"service", "defaults", "sites", "remediation"}, {"$schema"})) return;
    if (document.contains("service")) read_service(reading, document["service"], config.service);

    const SiteConfig defaults =
        document.contains("defaults") ? read_site_defaults(reading, document["defaults"]) : SiteConfig{};
    if (document.contains("sites")) {
        read_sites(reading, document["sites"], defaults, config.sites);
    } else {
        reader.error("", "needs a \"sites\" array listing at least one site to probe");
    }
    // Without a remediation section certheal only monitors and reports.
    if (document.contains("remediation")) {
        read_remediation(reading, document["remediation"], config.remediation);
    } else {
        config.remediation.enabled = false;
    }
}

}  // namespace

std::string format_issue(const ConfigIssue& issue) {
    const std::string where = issue.pointer.empty() ? std::string("(config)") : issue.pointer;
    const std::string level = issue.level == ConfigIssue::Level::warning ? "warning: " : "";
    return where + ": " + level + issue.message;
}

ConfigLoad parse_config(std::string_view json_text, const fs::path& source, const ConfigContext& context) {
    JsonReader reader(source.parent_path());
    TlsMaterialCache own_material;
    const SectionReading reading{reader, context.tls_material ? *context.tls_material : own_material,
                                 context.certificate_stores};
    ConfigLoad load;
    if (const auto document = read_json_document(json_text, reader)) {
        Config config;
        config.source = source;
        config.service.state_dir = context.default_state_dir;
        read_document(reading, *document, config);
        config.remediation.web_server = context.web_server;
        if (reader.error_count() == 0) load.config = std::move(config);
    }
    load.issues = reader.take_issues();
    return load;
}

ConfigLoad load_config(const fs::path& file, const ConfigContext& context) {
    std::error_code ec;
    const fs::path absolute = fs::absolute(file, ec);
    const fs::path& source = ec ? file : absolute;
    auto text = read_file_bounded(source, "the config file", kMaxConfigBytes);
    if (!text) {
        ConfigLoad load;
        load.issues.push_back({ConfigIssue::Level::error, "", "cannot be read: " + text.error().message});
        return load;
    }
    return parse_config(text.value(), source, context);
}

}  // namespace certheal
