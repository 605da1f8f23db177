#include "core/probe_result.hpp"

#include <array>
#include <utility>

namespace certheal {
namespace {
constexpr std::array<std::pair<ProbeClass, std::string_view>, 6> kNames{{
    {ProbeClass::healthy, "healthy"},
    {ProbeClass::client_cert_rejected, "client_cert_rejected"},
    {ProbeClass::connect_failed, "connect_failed"},
    {ProbeClass::timeout, "timeout"},
    {ProbeClass::tls_error, "tls_error"},
    {ProbeClass::unexpected_status, "unexpected_status"},
}};
}  // namespace

std::string_view to_string(ProbeClass cls) noexcept {
    for (const auto& [value, name] : kNames) {
        if (value == cls) return name;
    }
    return "unexpected_status";
}

std::optional<ProbeClass> probe_class_from_string(std::string_view text) noexcept {
    for (const auto& [value, name] : kNames) {
        if (name == text) return value;
    }
    return std::nullopt;
}

}  // namespace certheal
