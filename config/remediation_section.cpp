// "remediation": whether and how often certheal repairs, and the steps of a repair (each step
// is read in remediation_steps.cpp).
#include <array>

#include "config/sections.hpp"

namespace certheal {
namespace {

using json = nlohmann::json;
using RemediationKey = KeyReader<JsonReader, RemediationConfig>;

// Every key beside "steps", in the order an unknown key's error lists them. A new key is a row
// here (and its field in core's RemediationConfig).
const std::array kRemediationKeys{
    RemediationKey{"enabled", [](JsonReader& reader, const json& value, const std::string& at, RemediationConfig& out) {
                       if (auto enabled = reader.boolean(value, at)) out.enabled = *enabled;
                   }},
    RemediationKey{"dry_run", [](JsonReader& reader, const json& value, const std::string& at, RemediationConfig& out) {
                       if (auto dry_run = reader.boolean(value, at)) out.dry_run = *dry_run;
                   }},
    RemediationKey{"cooldown", [](JsonReader& reader, const json& value, const std::string& at, RemediationConfig& out) {
                       if (auto cooldown = reader.duration(value, at)) out.cooldown = *cooldown;
                   }},
    RemediationKey{"max_attempts",
                   [](JsonReader& reader, const json& value, const std::string& at, RemediationConfig& out) {
                       if (auto attempts = reader.integer(value, at, 1)) out.max_attempts = *attempts;
                   }},
    RemediationKey{"attempt_window",
                   [](JsonReader& reader, const json& value, const std::string& at, RemediationConfig& out) {
                       if (auto window = reader.duration(value, at)) out.attempt_window = *window;
                   }},
    RemediationKey{"circuit_reset_after",
                   [](JsonReader& reader, const json& value, const std::string& at, RemediationConfig& out) {
                       if (auto reset_after = reader.duration(value, at)) out.circuit_reset_after = *reset_after;
                   }},
};

void read_steps(const SectionReading& reading, const json& value, const std::string& pointer,
                RemediationConfig& remediation) {
    JsonReader& reader = reading.json;
    const std::string steps_at = child(pointer, "steps");
    if (!value.contains("steps")) {
        if (remediation.enabled) {
            reader.error(pointer, "is enabled but has no \"steps\"; list the repair steps or set \"enabled\": false");
        }
        return;
    }
    const json& steps = value["steps"];
    if (!steps.is_array()) {
        reader.error(steps_at, "must be an array of steps, got " + kind_of(steps) + " " + show(steps));
        return;
    }
    if (steps.empty() && remediation.enabled) {
        reader.error(steps_at, "is empty while remediation is enabled; list the repair steps or set \"enabled\": false");
    }
    for (std::size_t i = 0; i < steps.size(); ++i) {
        if (auto step = read_step(reading, steps[i], child(steps_at, i))) remediation.steps.push_back(std::move(*step));
    }
}

}  // namespace

void read_remediation(const SectionReading& reading, const json& value, RemediationConfig& remediation) {
    const std::string pointer = "/remediation";
    KeyList keys = key_names(kRemediationKeys);
    keys.push_back("steps");
    if (!reading.json.object(value, pointer, keys)) return;
    read_known_keys(kRemediationKeys, reading.json, value, pointer, remediation);
    read_steps(reading, value, pointer, remediation);
}

}  // namespace certheal
