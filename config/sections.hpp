#pragma once
// One reader per section of certheal.json, each in the file named after it:
//   service       service_section.cpp      ServiceSettings
//   defaults,     sites_section.cpp        SiteConfig (a table of the keys a site may hold;
//   sites                                  `defaults` is the site every site starts from)
//   .../tls       tls_section.cpp          TlsSettings and the client certificate
//   remediation   remediation_section.cpp  RemediationConfig (a table of its keys)
//   .../steps/N   remediation_steps.cpp    Step (a table of the step kinds)
// A new key is a row in its section's table; docs/architecture.md says what else goes with it.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/json_reader.hpp"
#include "core/model/config_model.hpp"
#include "core/probe/tls_files.hpp"

namespace certheal {

// What every section reads with.
struct SectionReading {
    JsonReader& json;                 // the values, and every issue found
    TlsMaterialCache& tls_material;   // what validation decodes, the prober reuses
    bool certificate_stores = false;  // the host has LocalMachine stores (ConfigContext)
};

void read_service(JsonReader& json, const nlohmann::json& value, ServiceSettings& settings);

// The site every site starts from: `defaults` over the built-in settings.
SiteConfig read_site_defaults(const SectionReading& reading, const nlohmann::json& value);
// Every site of the array, each starting from `defaults`.
void read_sites(const SectionReading& reading, const nlohmann::json& value, const SiteConfig& defaults,
                std::vector<SiteConfig>& sites);
// A tls object over `tls`: only the keys written change it.
void read_tls(const SectionReading& reading, const nlohmann::json& value, const std::string& pointer,
              TlsSettings& tls);

void read_remediation(const SectionReading& reading, const nlohmann::json& value, RemediationConfig& remediation);
// One step; nullopt when it has an error (the issues say which).
std::optional<Step> read_step(const SectionReading& reading, const nlohmann::json& value, const std::string& pointer);

}  // namespace certheal
