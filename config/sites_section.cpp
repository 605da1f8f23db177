// "defaults" and "sites": what to probe and how. A site is read over a copy of the defaults,
// so a key written in a site wins over the same key in `defaults`, and a key written in
// neither keeps the built-in value of core's SiteConfig.
#include <array>
#include <map>
#include <set>

#include "config/addresses.hpp"
#include "config/sections.hpp"
#include "core/probe/rejection_pattern.hpp"

namespace certheal {
namespace {

using json = nlohmann::json;

using SiteKey = KeyReader<SiteConfig>;

// Every class but healthy, as the error lists them.
std::string symptom_class_names() {
    std::string names;
    for (const auto known : kAllProbeClasses) {
        if (known != ProbeClass::healthy) names += (names.empty() ? "" : ", ") + std::string(to_string(known));
    }
    return names;
}

void read_symptoms(const SectionReading& reading, const json& value, const std::string& pointer, SiteConfig& site) {
    JsonReader& reader = reading.reader;
    if (!value.is_array()) {
        reader.error(pointer, "must be an array of probe classes, got " + typed_value(value));
        return;
    }
    std::set<ProbeClass> classes;
    bool ok = true;
    for (std::size_t i = 0; i < value.size(); ++i) {
        const json& item = value[i];
        const auto probe_class = item.is_string() ? probe_class_from_string(item.get<std::string>()) : std::nullopt;
        if (!probe_class || *probe_class == ProbeClass::healthy) {
            reader.error(child_pointer(pointer, i), "must be one of " + symptom_class_names() + "; got " + shown_value(item));
            ok = false;
            continue;
        }
        classes.insert(*probe_class);
    }
    if (ok) site.symptoms = std::move(classes);
}

void read_expect_status(const SectionReading& reading, const json& value, const std::string& pointer,
                        SiteConfig& site) {
    JsonReader& reader = reading.reader;
    if (!value.is_array() || value.empty()) {
        reader.error(pointer,
                     "must be a non-empty array of HTTP status codes such as [200], got " + shown_value(value));
        return;
    }
    std::vector<int> statuses;
    bool ok = true;
    for (std::size_t i = 0; i < value.size(); ++i) {
        const auto status = reader.read_integer(value[i], child_pointer(pointer, i), 100, 599);
        if (!status) {
            ok = false;
            continue;
        }
        statuses.push_back(*status);
    }
    if (ok) site.expect_status = std::move(statuses);
}

void read_rejection_pattern(const SectionReading& reading, const json& value, const std::string& pointer,
                            SiteConfig& site) {
    auto pattern = reading.reader.read_string(value, pointer, /*allow_control_characters=*/true);
    if (!pattern) return;
    // The same engine and bounds the prober uses.
    auto compiled = RejectionPattern::compile(*pattern);
    if (!compiled) {
        reading.reader.error(pointer, "must be a regular expression certheal can search (Perl syntax, PCRE2; see "
                                      "docs/classification.md), got " +
                                          shown_value(value) + ": " + compiled.error().message);
        return;
    }
    site.rejection_pattern = std::move(*pattern);
}

void read_tls_key(const SectionReading& reading, const json& value, const std::string& pointer, SiteConfig& site) {
    read_tls(reading, value, pointer, site.tls);
}

// Every key of a site beside its name and url (and every key of `defaults`), in the order an
// unknown key's error lists them. A new key is a row here (and its field in core's SiteConfig).
const std::array kSiteKeys{
    SiteKey{"interval", read_duration_key<&SiteConfig::interval>},
    SiteKey{"timeout", read_duration_key<&SiteConfig::timeout>},
    SiteKey{"failure_threshold", read_integer_key<&SiteConfig::failure_threshold, 1>},
    SiteKey{"success_threshold", read_integer_key<&SiteConfig::success_threshold, 1>},
    SiteKey{"symptoms", read_symptoms},
    SiteKey{"expect_status", read_expect_status},
    SiteKey{"rejection_pattern", read_rejection_pattern},
    SiteKey{"tls", read_tls_key},
    SiteKey{"connect_to", read_string_key<&SiteConfig::connect_to>},
};

void read_name(JsonReader& reader, const json& entry, const std::string& at, std::size_t index,
               std::map<std::string, std::size_t>& names, SiteConfig& site) {
    if (!entry.contains("name")) {
        reader.error(at, "needs a \"name\"");
    } else if (auto name = reader.read_string(entry["name"], child_pointer(at, "name"))) {
        site.name = *name;
        if (auto [it, inserted] = names.emplace(*name, index); !inserted) {
            reader.error(child_pointer(at, "name"), "repeats the name " + shown_string(*name) + " of /sites/" +
                                                        std::to_string(it->second) + "; site names must be unique");
        }
    }
}

void read_url(JsonReader& reader, const json& entry, const std::string& at, SiteConfig& site) {
    if (!entry.contains("url")) {
        reader.error(at, "needs a \"url\"");
    } else if (auto url = reader.read_string(entry["url"], child_pointer(at, "url"))) {
        auto parsed = parse_https_url(*url);
        if (const auto* problem = std::get_if<std::string>(&parsed)) {
            reader.error(child_pointer(at, "url"), *problem);
        } else {
            const auto& parts = std::get<HttpsUrl>(parsed);
            site.url = *url;
            site.host = parts.host;
            site.port = parts.port;
            site.target = parts.target;
        }
    }
}

}  // namespace

SiteConfig read_site_defaults(const SectionReading& reading, const json& value) {
    SiteConfig defaults;
    if (reading.reader.check_object(value, "/defaults", key_names(kSiteKeys))) {
        read_known_keys(kSiteKeys, reading, value, "/defaults", defaults);
    }
    return defaults;
}

void read_sites(const SectionReading& reading, const json& value, const SiteConfig& defaults,
                std::vector<SiteConfig>& sites) {
    const std::string pointer = "/sites";
    JsonReader& reader = reading.reader;
    if (!value.is_array()) {
        reader.error(pointer, "must be an array of sites, got " + typed_value(value));
        return;
    }
    if (value.empty()) {
        reader.error(pointer, "must list at least one site to probe");
        return;
    }
    const KeyList shared_keys = key_names(kSiteKeys);
    std::map<std::string, std::size_t> names;
    for (std::size_t i = 0; i < value.size(); ++i) {
        const std::string at = child_pointer(pointer, i);
        const json& entry = value[i];
        if (!reader.check_object(entry, at, {"name", "url"}, shared_keys)) continue;
        SiteConfig site = defaults;
        read_name(reader, entry, at, i, names, site);
        read_url(reader, entry, at, site);
        read_known_keys(kSiteKeys, reading, entry, at, site);
        sites.push_back(std::move(site));
    }
}

}  // namespace certheal
