#pragma once
// Reading certheal.json: parsing, validation (every error at once, each at its JSON pointer
// with the value that was wrong) and the merge of `defaults` into every site. What a valid
// config means is core/model/config_model.hpp; this folder only turns text into it.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/model/config_model.hpp"
#include "core/probe/tls_files.hpp"

namespace certheal {

struct ConfigIssue {
    enum class Level { error, warning };
    Level level = Level::error;
    std::string pointer;  // JSON pointer, "" for the document itself
    std::string message;  // includes the offending value unless it is a secret
};

std::string format_issue(const ConfigIssue& issue);  // "/sites/2/url: must be an https URL"

// What the host decides about a config: where the state lives by default, and whether it
// has system certificate stores (Windows) that trust_ca and fix_root_store can change.
struct ConfigContext {
    std::filesystem::path default_state_dir;
    bool certificate_stores = false;
    // Where validation keeps the certificates and keys it decodes, for the prober to reuse;
    // null: validation decodes into a cache of its own and drops it.
    std::shared_ptr<TlsMaterialCache> tls_material = nullptr;
    // How events and messages name the web server: "IIS" on Windows (RemediationConfig::web_server).
    std::string web_server = "the web server";
};

struct ConfigLoad {
    std::optional<Config> config;  // set only when there is no error (warnings allowed)
    std::vector<ConfigIssue> issues;
};

// Reads, parses and validates. Relative paths resolve against the config file's folder.
// `context.default_state_dir` is used when service.state_dir is absent.
ConfigLoad load_config(const std::filesystem::path& file, const ConfigContext& context);
ConfigLoad parse_config(std::string_view json_text, const std::filesystem::path& source, const ConfigContext& context);

}  // namespace certheal
