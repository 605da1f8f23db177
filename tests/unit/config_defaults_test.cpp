// The defaults an editor shows from config/certheal.schema.json are the ones certheal applies:
// every "default" in the schema is compared with what the config loader gives a key left out.
// (tests/config_docs_check.py holds docs/configuration.md to the same schema.)
#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "core/base/duration.hpp"
#include "support/files.hpp"

using namespace certheal;
using certheal::test::read_text;

namespace {

// A config that names only what has no default: one site, one step of each kind with a default.
const char* const kMinimalConfig = R"({
  "service": { "state_dir": "/var/lib/certheal" },
  "sites": [ { "name": "intranet", "url": "https://intranet.example/health", "tls": {} } ],
  "remediation": { "steps": [ { "run": ["/bin/true"] }, { "stop_service": "nginx" }, { "verify": {} } ] }
})";

// The schema's defaults by JSON pointer.
void collect_defaults(const nlohmann::json& node, const std::string& pointer,
                      std::vector<std::pair<std::string, nlohmann::json>>& found) {
    // The schema is ours and a few levels deep: recursion over it is bounded by the file in the
    // repository, not by outside input.
    if (node.is_object()) {
        if (node.contains("default") && pointer.find("/properties/") != std::string::npos) {
            found.emplace_back(pointer, node["default"]);
        }
        for (const auto& [key, child] : node.items()) collect_defaults(child, pointer + "/" + key, found);
    } else if (node.is_array()) {
        for (std::size_t index = 0; index < node.size(); ++index)
            collect_defaults(node[index], pointer + "/" + std::to_string(index), found);
    }
}

bool same_duration(const nlohmann::json& schema_default, Duration applied) {
    if (!schema_default.is_string()) return false;
    const auto parsed = parse_duration(schema_default.get<std::string>());
    return parsed && *parsed == applied;
}

nlohmann::json symptom_names(const std::set<ProbeClass>& classes) {
    auto names = nlohmann::json::array();
    for (const auto probe_class : classes) names.push_back(std::string(to_string(probe_class)));
    return names;
}

}  // namespace

TEST_CASE("every default in the JSON schema is the value certheal applies when the key is left out",
          "[config][schema]") {
    const auto schema = nlohmann::json::parse(read_text(CERTHEAL_SOURCE_DIR "/config/certheal.schema.json"));
    std::vector<std::pair<std::string, nlohmann::json>> defaults;
    collect_defaults(schema, "", defaults);
    REQUIRE(defaults.size() >= 20);

    const auto loaded = parse_config(kMinimalConfig, "minimal.json", ConfigContext{});
    for (const auto& issue : loaded.issues) INFO(format_issue(issue));
    REQUIRE(loaded.config);
    const Config& config = *loaded.config;
    const SiteConfig& site = config.sites.at(0);
    const RemediationConfig& remediation = config.remediation;

    using Check = std::function<bool(const nlohmann::json&)>;
    const auto step_timeout = [&](const nlohmann::json& value) {
        for (const auto& step : remediation.steps) {
            if (!same_duration(value, step.timeout)) return false;
        }
        return !remediation.steps.empty();
    };
    const std::map<std::string, Check> applied = {
        {"/$defs/service/properties/allow_insecure_config_acl",
         [&](const auto& value) { return value == config.service.allow_insecure_config_acl; }},
        {"/$defs/service/properties/max_concurrent_probes",
         [&](const auto& value) { return value == config.service.max_concurrent_probes; }},
        {"/$defs/tls/properties/verify", [&](const auto& value) { return value == site.tls.verify; }},
        {"/$defs/siteProperties/interval", [&](const auto& value) { return same_duration(value, site.interval); }},
        {"/$defs/siteProperties/timeout", [&](const auto& value) { return same_duration(value, site.timeout); }},
        {"/$defs/siteProperties/failure_threshold", [&](const auto& value) { return value == site.failure_threshold; }},
        {"/$defs/siteProperties/success_threshold", [&](const auto& value) { return value == site.success_threshold; }},
        {"/$defs/siteProperties/symptoms", [&](const auto& value) { return value == symptom_names(site.symptoms); }},
        {"/$defs/siteProperties/expect_status", [&](const auto& value) { return value == site.expect_status; }},
        {"/$defs/siteProperties/rejection_pattern", [&](const auto& value) { return value == site.rejection_pattern; }},
        {"/$defs/remediation/properties/enabled", [&](const auto& value) { return value == remediation.enabled; }},
        {"/$defs/remediation/properties/dry_run", [&](const auto& value) { return value == remediation.dry_run; }},
        {"/$defs/remediation/properties/cooldown",
         [&](const auto& value) { return same_duration(value, remediation.cooldown); }},
        {"/$defs/remediation/properties/max_attempts", [&](const auto& value) { return value == remediation.max_attempts; }},
        {"/$defs/remediation/properties/attempt_window",
         [&](const auto& value) { return same_duration(value, remediation.attempt_window); }},
        {"/$defs/remediation/properties/circuit_reset_after",
         [&](const auto& value) { return same_duration(value, remediation.circuit_reset_after); }},
        {"/$defs/verifySettings/properties/attempts",
         [&](const auto& value) { return value == std::get<VerifyStep>(remediation.steps.at(2).action).attempts; }},
        {"/$defs/verifySettings/properties/delay",
         [&](const auto& value) { return same_duration(value, std::get<VerifyStep>(remediation.steps.at(2).action).delay); }},
        {"/$defs/step/oneOf/1/properties/with_dependents",
         [&](const auto& value) {
             return value == std::get<StopServiceStep>(remediation.steps.at(1).action).with_dependents;
         }},
    };

    for (const auto& [pointer, value] : defaults) {
        INFO("schema " << pointer << " says the default is " << value.dump());
        // Every step kind shares one timeout default (Step::timeout).
        if (pointer.rfind("/$defs/step/oneOf/", 0) == 0 && pointer.ends_with("/properties/timeout")) {
            CHECK(step_timeout(value));
            continue;
        }
        const auto check = applied.find(pointer);
        // A new default in the schema needs its line above, so that it is compared too.
        REQUIRE(check != applied.end());
        CHECK(check->second(value));
    }
}
