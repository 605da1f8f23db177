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

template <class Field, class Value>
void assign_if_read(Field& field, const std::optional<Value>& value) {
    if (value) field = *value;
}

std::optional<std::set<ProbeClass>> read_symptoms(JsonReader& reader, const json& value, const std::string& pointer) {
    if (!value.is_array()) {
        reader.error(pointer, "must be an array of probe classes, got " + kind_of(value) + " " + show(value));
        return std::nullopt;
    }
    std::set<ProbeClass> classes;
    bool ok = true;
    for (std::size_t i = 0; i < value.size(); ++i) {
        const json& item = value[i];
        const auto cls = item.is_string() ? probe_class_from_string(item.get<std::string>()) : std::nullopt;
        if (!cls || *cls == ProbeClass::healthy) {
            reader.error(child(pointer, i),
                         "must be one of client_cert_rejected, client_cert_invalid, connect_failed, timeout, tls_error, "
                         "unexpected_status; got " +
                             show(item));
            ok = false;
            continue;
        }
        classes.insert(*cls);
    }
    if (!ok) return std::nullopt;
    return classes;
}

std::optional<std::vector<int>> read_expect_status(JsonReader& reader, const json& value, const std::string& pointer) {
    if (!value.is_array() || value.empty()) {
        reader.error(pointer, "must be a non-empty array of HTTP status codes such as [200], got " + show(value));
        return std::nullopt;
    }
    std::vector<int> statuses;
    bool ok = true;
    for (std::size_t i = 0; i < value.size(); ++i) {
        const auto status = reader.integer(value[i], child(pointer, i), 100, 599);
        if (!status) {
            ok = false;
            continue;
        }
        statuses.push_back(*status);
    }
    if (!ok) return std::nullopt;
    return statuses;
}

std::optional<std::string> read_rejection_pattern(JsonReader& reader, const json& value, const std::string& pointer) {
    auto pattern = reader.string(value, pointer, /*allow_control_characters=*/true);
    if (!pattern) return std::nullopt;
    // The same engine and bounds the prober uses.
    auto compiled = RejectionPattern::compile(*pattern);
    if (!compiled) {
        reader.error(pointer, "must be a valid regular expression (Perl/ECMAScript syntax), got " + show(value) + ": " +
                                  compiled.error().message);
        return std::nullopt;
    }
    return pattern;
}

using SiteKey = KeyReader<const SectionReading, SiteConfig>;

// Every key of a site beside its name and url, in the order an unknown key's error lists them.
// A new key is a row here (and its field in core's SiteConfig).
const std::array kSiteKeys{
    SiteKey{"interval", [](const SectionReading& r, const json& v, const std::string& at, SiteConfig& site) {
                assign_if_read(site.interval, r.json.duration(v, at));
            }},
    SiteKey{"timeout", [](const SectionReading& r, const json& v, const std::string& at, SiteConfig& site) {
                assign_if_read(site.timeout, r.json.duration(v, at));
            }},
    SiteKey{"failure_threshold", [](const SectionReading& r, const json& v, const std::string& at, SiteConfig& site) {
                assign_if_read(site.failure_threshold, r.json.integer(v, at, 1));
            }},
    SiteKey{"success_threshold", [](const SectionReading& r, const json& v, const std::string& at, SiteConfig& site) {
                assign_if_read(site.success_threshold, r.json.integer(v, at, 1));
            }},
    SiteKey{"symptoms", [](const SectionReading& r, const json& v, const std::string& at, SiteConfig& site) {
                assign_if_read(site.symptoms, read_symptoms(r.json, v, at));
            }},
    SiteKey{"expect_status", [](const SectionReading& r, const json& v, const std::string& at, SiteConfig& site) {
                assign_if_read(site.expect_status, read_expect_status(r.json, v, at));
            }},
    SiteKey{"rejection_pattern", [](const SectionReading& r, const json& v, const std::string& at, SiteConfig& site) {
                assign_if_read(site.rejection_pattern, read_rejection_pattern(r.json, v, at));
            }},
    SiteKey{"tls", [](const SectionReading& r, const json& v, const std::string& at, SiteConfig& site) {
                read_tls(r, v, at, site.tls);
            }},
    SiteKey{"connect_to", [](const SectionReading& r, const json& v, const std::string& at, SiteConfig& site) {
                assign_if_read(site.connect_to, r.json.string(v, at));
            }},
};

void read_name(JsonReader& reader, const json& entry, const std::string& at, std::size_t index,
               std::map<std::string, std::size_t>& names, SiteConfig& site) {
    if (!entry.contains("name")) {
        reader.error(at, "needs a \"name\"");
    } else if (auto name = reader.string(entry["name"], child(at, "name"))) {
        site.name = *name;
        if (auto [it, inserted] = names.emplace(*name, index); !inserted) {
            reader.error(child(at, "name"), "repeats the name " + quote(*name) + " of /sites/" +
                                                std::to_string(it->second) + "; site names must be unique");
        }
    }
}

void read_url(JsonReader& reader, const json& entry, const std::string& at, SiteConfig& site) {
    if (!entry.contains("url")) {
        reader.error(at, "needs a \"url\"");
    } else if (auto url = reader.string(entry["url"], child(at, "url"))) {
        auto parsed = parse_https_url(*url);
        if (const auto* problem = std::get_if<std::string>(&parsed)) {
            reader.error(child(at, "url"), *problem);
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
    if (reading.json.object(value, "/defaults", key_names(kSiteKeys))) {
        read_known_keys(kSiteKeys, reading, value, "/defaults", defaults);
    }
    return defaults;
}

void read_sites(const SectionReading& reading, const json& value, const SiteConfig& defaults,
                std::vector<SiteConfig>& sites) {
    const std::string pointer = "/sites";
    JsonReader& reader = reading.json;
    if (!value.is_array()) {
        reader.error(pointer, "must be an array of sites, got " + kind_of(value) + " " + show(value));
        return;
    }
    if (value.empty()) {
        reader.error(pointer, "must list at least one site to probe");
        return;
    }
    const KeyList shared_keys = key_names(kSiteKeys);
    std::map<std::string, std::size_t> names;
    for (std::size_t i = 0; i < value.size(); ++i) {
        const std::string at = child(pointer, i);
        const json& entry = value[i];
        if (!reader.object(entry, at, {"name", "url"}, shared_keys)) continue;
        SiteConfig site = defaults;
        read_name(reader, entry, at, i, names, site);
        read_url(reader, entry, at, site);
        read_known_keys(kSiteKeys, reading, entry, at, site);
        sites.push_back(std::move(site));
    }
}

}  // namespace certheal
