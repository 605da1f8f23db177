// "remediation": whether and how often certheal repairs, and what a repair runs: either one
// list of "steps" or a ladder of "stages" (each stage's steps are read in remediation_steps.cpp).
#include <array>
#include <map>
#include <set>

#include "config/sections.hpp"
#include "core/base/text.hpp"

namespace certheal {
namespace {

using json = nlohmann::json;
using RemediationKey = KeyReader<RemediationConfig>;

// More rungs than anyone climbs before a person looks: a bound on what a config can make
// certheal walk and run for one incident.
constexpr std::size_t kMaxStages = 16;

void read_default_verify(const SectionReading& reading, const json& value, const std::string& pointer,
                         RemediationConfig& remediation) {
    if (auto verify = read_verify_settings(reading, value, pointer)) remediation.verify = *verify;
}

// Every key beside "steps" and "stages", in the order an unknown key's error lists them. A new
// key is a row here (and its field in core's RemediationConfig).
const std::array kRemediationKeys{
    RemediationKey{"enabled", read_boolean_key<&RemediationConfig::enabled>},
    RemediationKey{"dry_run", read_boolean_key<&RemediationConfig::dry_run>},
    RemediationKey{"cooldown", read_duration_key<&RemediationConfig::cooldown>},
    RemediationKey{"max_attempts", read_integer_key<&RemediationConfig::max_attempts, 1>},
    RemediationKey{"attempt_window", read_duration_key<&RemediationConfig::attempt_window>},
    RemediationKey{"circuit_reset_after", read_duration_key<&RemediationConfig::circuit_reset_after>},
    RemediationKey{"verify", read_default_verify},
    RemediationKey{"allow_host_settings", read_boolean_key<&RemediationConfig::allow_host_settings>},
};

// The steps of `steps` (or of a stage), each at its pointer. set_schannel changes how every site
// of the host trusts client certificates: only where the admin allowed host-wide settings.
std::vector<Step> read_step_list(const SectionReading& reading, const json& steps, const std::string& pointer,
                                 const RemediationConfig& remediation) {
    std::vector<Step> read;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const std::string at = child_pointer(pointer, i);
        auto step = read_step(reading, steps[i], at);
        if (!step) continue;
        if (std::holds_alternative<SetSchannelStep>(step->action) && !remediation.allow_host_settings) {
            reading.reader.error(child_pointer(at, "set_schannel"),
                                 "changes how Schannel trusts client certificates for every site of this host, so "
                                 "certheal refuses it unless \"remediation\": {\"allow_host_settings\": true} allows "
                                 "host-wide settings");
            continue;
        }
        read.push_back(std::move(*step));
    }
    return read;
}

void read_steps(const SectionReading& reading, const json& value, const std::string& pointer,
                RemediationConfig& remediation) {
    JsonReader& reader = reading.reader;
    const std::string steps_at = child_pointer(pointer, "steps");
    const json& steps = value["steps"];
    if (!steps.is_array()) {
        reader.error(steps_at, "must be an array of steps, got " + typed_value(steps));
        return;
    }
    if (steps.empty() && remediation.enabled) {
        reader.error(steps_at,
                     "is empty while remediation is enabled; list the repair steps or set \"enabled\": false");
    }
    remediation.steps = read_step_list(reading, steps, steps_at, remediation);
}

// ---------------------------------------------------------------- stages

// A `when` list: failure classes ("class") or causes of the host trust diagnosis ("cause").
template <class Value, class Parse>
std::set<Value> read_condition_list(JsonReader& reader, const json& value, const std::string& pointer,
                                    const std::vector<std::string>& known, Parse parse) {
    std::set<Value> values;
    if (!value.is_array() || value.empty()) {
        reader.error(pointer, "must be a non-empty array of names (" + join(known) + "), got " + shown_value(value));
        return values;
    }
    for (std::size_t i = 0; i < value.size(); ++i) {
        const json& item = value[i];
        const auto parsed = item.is_string() ? parse(item.get<std::string>()) : std::nullopt;
        if (!parsed) {
            reader.error(child_pointer(pointer, i), "must be one of " + join(known) + "; got " + shown_value(item));
            continue;
        }
        values.insert(*parsed);
    }
    return values;
}

std::vector<std::string> failure_class_names() {
    std::vector<std::string> names;
    for (const auto probe_class : kAllProbeClasses) {
        if (probe_class != ProbeClass::healthy) names.emplace_back(to_string(probe_class));
    }
    return names;
}

std::vector<std::string> cause_names() {
    std::vector<std::string> names;
    names.reserve(kAllTrustCauses.size());
    for (const auto cause : kAllTrustCauses) names.emplace_back(to_string(cause));
    return names;
}

StageCondition read_when(const SectionReading& reading, const json& value, const std::string& pointer) {
    JsonReader& reader = reading.reader;
    StageCondition when;
    if (!reader.check_object(value, pointer, {"class", "cause"})) return when;
    if (value.empty()) {
        reader.error(pointer, "is empty; list \"class\" or \"cause\", or leave \"when\" out for a stage that always runs");
    }
    if (value.contains("class")) {
        when.classes = read_condition_list<ProbeClass>(reader, value["class"], child_pointer(pointer, "class"),
                                                       failure_class_names(), [](const std::string& name) {
                                                           const auto probe_class = probe_class_from_string(name);
                                                           return probe_class == ProbeClass::healthy ? std::nullopt : probe_class;
                                                       });
    }
    if (value.contains("cause")) {
        when.causes = read_condition_list<TrustCause>(reader, value["cause"], child_pointer(pointer, "cause"),
                                                      cause_names(), trust_cause_from_string);
        if (!reading.certificate_stores) {
            reader.warning(child_pointer(pointer, "cause"),
                           "names causes of the host trust diagnosis, which runs on Windows only: on this host no "
                           "incident has a cause, so this stage is always skipped");
        }
    }
    return when;
}

std::optional<RepairStage> read_stage(const SectionReading& reading, const json& value, const std::string& pointer,
                                      const RemediationConfig& remediation) {
    JsonReader& reader = reading.reader;
    if (!reader.check_object(value, pointer, {"name", "steps", "when", "verify"})) return std::nullopt;
    const std::size_t errors_before = reader.error_count();
    RepairStage stage;
    if (!value.contains("name")) {
        reader.error(pointer, "needs a \"name\" that events and history show, such as \"trust\"");
    } else if (auto name = reader.read_string(value["name"], child_pointer(pointer, "name"))) {
        stage.name = *name;
    }
    const std::string steps_at = child_pointer(pointer, "steps");
    if (!value.contains("steps")) {
        reader.error(pointer, "needs \"steps\": the steps this stage runs before certheal probes the sites");
    } else if (!value["steps"].is_array() || value["steps"].empty()) {
        reader.error(steps_at, "must be a non-empty array of steps, got " + shown_value(value["steps"]));
    } else {
        stage.steps = read_step_list(reading, value["steps"], steps_at, remediation);
    }
    if (value.contains("when")) stage.when = read_when(reading, value["when"], child_pointer(pointer, "when"));
    if (value.contains("verify")) stage.verify = read_verify_settings(reading, value["verify"], child_pointer(pointer, "verify"));
    if (reader.error_count() != errors_before) return std::nullopt;
    return stage;
}

void read_stages(const SectionReading& reading, const json& value, const std::string& pointer,
                 RemediationConfig& remediation) {
    JsonReader& reader = reading.reader;
    const std::string stages_at = child_pointer(pointer, "stages");
    const json& stages = value["stages"];
    if (!stages.is_array() || stages.empty() || stages.size() > kMaxStages) {
        reader.error(stages_at, "must be an array of 1 to " + std::to_string(kMaxStages) +
                                    " stages, least disruptive first; got " + shown_value(stages));
        return;
    }
    std::map<std::string, std::size_t> names;
    for (std::size_t i = 0; i < stages.size(); ++i) {
        const std::string at = child_pointer(stages_at, i);
        auto stage = read_stage(reading, stages[i], at, remediation);
        if (!stage) continue;
        if (const auto [seen, inserted] = names.emplace(stage->name, i); !inserted) {
            reader.error(child_pointer(at, "name"), "repeats the name " + shown_string(stage->name) + " of " +
                                                        child_pointer(stages_at, seen->second) +
                                                        "; stage names must be unique");
            continue;
        }
        remediation.stages.push_back(std::move(*stage));
    }
}

}  // namespace

void read_remediation(const SectionReading& reading, const json& value, RemediationConfig& remediation) {
    const std::string pointer = "/remediation";
    KeyList keys = key_names(kRemediationKeys);
    keys.push_back("steps");
    keys.push_back("stages");
    if (!reading.reader.check_object(value, pointer, keys)) return;
    read_known_keys(kRemediationKeys, reading, value, pointer, remediation);
    const bool steps = value.contains("steps");
    const bool stages = value.contains("stages");
    if (steps && stages) {
        reading.reader.error(pointer, "has both \"steps\" and \"stages\"; use \"stages\" for a repair ladder or "
                                      "\"steps\" for one list of steps, not both");
        return;
    }
    if (steps) {
        read_steps(reading, value, pointer, remediation);
    } else if (stages) {
        read_stages(reading, value, pointer, remediation);
    } else if (remediation.enabled) {
        reading.reader.error(pointer, "is enabled but has no \"stages\" or \"steps\"; list the repair stages (or "
                                      "steps) or set \"enabled\": false");
    }
}

}  // namespace certheal
