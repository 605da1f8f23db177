#pragma once
// `certheal diagnose`: the host trust diagnosis (core/repair/diagnosis) of this IIS host for
// every site, or one, printed for people or as JSON lines; and the pieces of it that
// check-config, status and probe show. On a host without Schannel it says so and exits 0.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "core/base/clock.hpp"
#include "core/repair/diagnosis.hpp"
#include "core/repair/preflight.hpp"
#include "service/options.hpp"

namespace certheal::cli {

int command_diagnose(const Options& options, const Clock& clock);

// The diagnosis of `sites` now (`clock`), or nothing where the host has no Schannel (Linux). Blocks.
std::optional<HostDiagnosis> diagnose_now(const std::vector<SiteConfig>& sites, const Clock& clock);

// One pre-flight warning per site for which the diagnosis names a cause (check-config).
std::vector<PreflightFinding> host_trust_findings(const Config& config, const HostDiagnosis& diagnosis);

// status --json's "host_trust": the fingerprint, its parts and each site's verdict and causes.
nlohmann::json host_trust_status_json(const HostDiagnosis& diagnosis);

// The sentence a person reads for one site: "site X: cause (sentence) Fix: ...", or that
// nothing was found.
std::string host_trust_line(const SiteDiagnosis& site);

}  // namespace certheal::cli
