#include "core/model/probe_result.hpp"

#include <array>
#include <utility>

namespace certheal {
namespace {
constexpr std::array<std::pair<ProbeClass, std::string_view>, 9> kNames{{
    {ProbeClass::healthy, "healthy"},
    {ProbeClass::client_cert_rejected, "client_cert_rejected"},
    {ProbeClass::client_cert_invalid, "client_cert_invalid"},
    {ProbeClass::connect_failed, "connect_failed"},
    {ProbeClass::timeout, "timeout"},
    {ProbeClass::tls_error, "tls_error"},
    {ProbeClass::unexpected_status, "unexpected_status"},
    {ProbeClass::revocation_unavailable, "revocation_unavailable"},
    {ProbeClass::client_cert_negotiation_unsupported, "client_cert_negotiation_unsupported"},
}};
}  // namespace

std::string_view to_string(ProbeClass probe_class) noexcept {
    for (const auto& [value, name] : kNames) {
        if (value == probe_class) return name;
    }
    return "unexpected_status";
}

std::optional<ProbeClass> probe_class_from_string(std::string_view text) noexcept {
    for (const auto& [value, name] : kNames) {
        if (name == text) return value;
    }
    return std::nullopt;
}

nlohmann::json probe_evidence(const ProbeResult& result, bool with_site) {
    using json = nlohmann::json;
    const auto or_null = [](const auto& value) { return value ? json(*value) : json(nullptr); };
    json evidence = json::object();
    if (with_site) evidence["site"] = result.site;
    evidence["url"] = result.url;
    evidence["class"] = to_string(result.probe_class);
    evidence["status"] = or_null(result.status);
    evidence["iis_substatus"] = or_null(result.iis_substatus);
    evidence["iis_win32_status"] = or_null(result.iis_win32_status);
    evidence["tls_alert"] = or_null(result.tls_alert);
    evidence["client_ca_names"] = or_null(result.client_ca_names);
    evidence["client_issuer_listed"] = or_null(result.client_issuer_listed);
    evidence["error"] = or_null(result.error);
    evidence["timings_ms"] = {{"resolve", or_null(result.timings.resolve_ms)},
                              {"connect", or_null(result.timings.connect_ms)},
                              {"tls", or_null(result.timings.tls_ms)},
                              {"response", or_null(result.timings.response_ms)},
                              {"total", result.timings.total_ms}};
    return evidence;
}

}  // namespace certheal
