// "remediation": whether and how often certheal repairs, and the steps of a repair (each step
// is read in remediation_steps.cpp).
#include <array>

#include "config/sections.hpp"

namespace certheal {
namespace {

using json = nlohmann::json;
using RemediationKey = KeyReader<RemediationConfig>;

// Every key beside "steps", in the order an unknown key's error lists them. A new key is a row
// here (and its field in core's RemediationConfig).
const std::array kRemediationKeys{
    RemediationKey{"enabled", read_boolean_key<&RemediationConfig::enabled>},
    RemediationKey{"dry_run", read_boolean_key<&RemediationConfig::dry_run>},
    RemediationKey{"cooldown", read_duration_key<&RemediationConfig::cooldown>},
    RemediationKey{"max_attempts", read_integer_key<&RemediationConfig::max_attempts, 1>},
    RemediationKey{"attempt_window", read_duration_key<&RemediationConfig::attempt_window>},
    RemediationKey{"circuit_reset_after", read_duration_key<&RemediationConfig::circuit_reset_after>},
};

void read_steps(const SectionReading& reading, const json& value, const std::string& pointer,
                RemediationConfig& remediation) {
    JsonReader& reader = reading.reader;
    const std::string steps_at = child_pointer(pointer, "steps");
    if (!value.contains("steps")) {
        if (remediation.enabled) {
            reader.error(pointer, "is enabled but has no \"steps\"; list the repair steps or set \"enabled\": false");
        }
        return;
    }
    const json& steps = value["steps"];
    if (!steps.is_array()) {
        reader.error(steps_at, "must be an array of steps, got " + typed_value(steps));
        return;
    }
    if (steps.empty() && remediation.enabled) {
        reader.error(steps_at,
                     "is empty while remediation is enabled; list the repair steps or set \"enabled\": false");
    }
    for (std::size_t i = 0; i < steps.size(); ++i) {
        if (auto step = read_step(reading, steps[i], child_pointer(steps_at, i))) {
            remediation.steps.push_back(std::move(*step));
        }
    }
}

}  // namespace

void read_remediation(const SectionReading& reading, const json& value, RemediationConfig& remediation) {
    const std::string pointer = "/remediation";
    KeyList keys = key_names(kRemediationKeys);
    keys.push_back("steps");
    if (!reading.reader.check_object(value, pointer, keys)) return;
    read_known_keys(kRemediationKeys, reading, value, pointer, remediation);
    read_steps(reading, value, pointer, remediation);
}

}  // namespace certheal
