#pragma once
// One reader per section of certheal.json, each in the file named after it:
//   service       service_section.cpp      ServiceSettings (kServiceKeys)
//   defaults,     sites_section.cpp        SiteConfig (kSiteKeys; `defaults` is the site
//   sites                                  every site starts from)
//   .../tls       tls_section.cpp          TlsSettings and the client certificate
//   remediation   remediation_section.cpp  RemediationConfig (kRemediationKeys), its stages
//   .../steps/N   remediation_steps.cpp    Step (kStepKinds), in "steps" or a stage's "steps"
// A section's keys are a table of KeyReader rows, so a new key is one row; docs/architecture.md
// says what else goes with it.

#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/json_reader.hpp"
#include "core/model/config_model.hpp"
#include "core/probe/tls_files.hpp"

namespace certheal {

// What every section reads with.
struct SectionReading {
    JsonReader& reader;               // the values, and every issue found
    TlsMaterialCache& tls_material;   // what validation decodes, the prober reuses
    bool certificate_stores = false;  // the host has LocalMachine stores (ConfigContext)
};

void read_service(const SectionReading& reading, const nlohmann::json& value, ServiceSettings& settings);

// The site every site starts from: `defaults` over the built-in settings.
SiteConfig read_site_defaults(const SectionReading& reading, const nlohmann::json& value);
// Every site of the array, each starting from `defaults`.
void read_sites(const SectionReading& reading, const nlohmann::json& value, const SiteConfig& defaults,
                std::vector<SiteConfig>& sites);
// A tls object over `tls`: only the keys written change it.
void read_tls(const SectionReading& reading, const nlohmann::json& value, const std::string& pointer, TlsSettings& tls);

void read_remediation(const SectionReading& reading, const nlohmann::json& value, RemediationConfig& remediation);
// One step; nullopt when it has an error (the issues say which).
std::optional<Step> read_step(const SectionReading& reading, const nlohmann::json& value, const std::string& pointer);
// {"attempts": 5, "delay": "10s"}: a verify step's body, a stage's verify and remediation.verify.
std::optional<VerifyStep> read_verify_settings(const SectionReading& reading, const nlohmann::json& value,
                                               const std::string& pointer);

// ---- a section as a table of its keys

// A key of a section's object and how its value is read into the section's `Target`.
template <class Target>
struct KeyReader {
    std::string_view name;
    void (*read)(const SectionReading& reading, const nlohmann::json& value, const std::string& pointer,
                 Target& target);
};

// The names of a table's keys, in its order: the `allowed` of JsonReader::check_object.
template <class Table>
KeyList key_names(const Table& table) {
    KeyList names;
    for (const auto& key : table) names.push_back(key.name);
    return names;
}

// Each key of `object` that `table` knows, read in the document's order into `target` (an
// unknown key is JsonReader::check_object's to report).
template <class Table, class Target>
void read_known_keys(const Table& table, const SectionReading& reading, const nlohmann::json& object,
                     const std::string& pointer, Target& target) {
    for (const auto& [name, value] : object.items()) {
        for (const auto& key : table) {
            if (key.name == name) key.read(reading, value, child_pointer(pointer, name), target);
        }
    }
}

// Rows for the plain values: `read_duration_key<&RemediationConfig::cooldown>` reads the value
// and, when it is right, sets the member (a wrong value leaves it as it was, its error said).
template <class>
struct MemberOf;
template <class Class, class Type>
struct MemberOf<Type Class::*> {
    using Target = Class;
};
template <auto Member>
using TargetOf = typename MemberOf<decltype(Member)>::Target;

template <auto Member>
void read_duration_key(const SectionReading& reading, const nlohmann::json& value, const std::string& pointer,
                       TargetOf<Member>& target) {
    if (auto read = reading.reader.read_duration(value, pointer)) target.*Member = *read;
}
template <auto Member>
void read_boolean_key(const SectionReading& reading, const nlohmann::json& value, const std::string& pointer,
                      TargetOf<Member>& target) {
    if (auto read = reading.reader.read_boolean(value, pointer)) target.*Member = *read;
}
template <auto Member>
void read_string_key(const SectionReading& reading, const nlohmann::json& value, const std::string& pointer,
                     TargetOf<Member>& target) {
    if (auto read = reading.reader.read_string(value, pointer)) target.*Member = *read;
}
template <auto Member>
void read_file_path_key(const SectionReading& reading, const nlohmann::json& value, const std::string& pointer,
                        TargetOf<Member>& target) {
    if (auto read = reading.reader.read_file_path(value, pointer)) target.*Member = *read;
}
template <auto Member, int Minimum, int Maximum = std::numeric_limits<int>::max()>
void read_integer_key(const SectionReading& reading, const nlohmann::json& value, const std::string& pointer,
                      TargetOf<Member>& target) {
    using Field = std::remove_reference_t<decltype(target.*Member)>;
    if (auto read = reading.reader.read_integer(value, pointer, Minimum, Maximum)) {
        target.*Member = static_cast<Field>(*read);
    }
}

}  // namespace certheal
