// What the config's value types can say about themselves, for events and people.
#include "core/model/config_model.hpp"

#include <array>

namespace certheal {
namespace {
constexpr std::string_view kind_name(const RunStep&) noexcept { return "run"; }
constexpr std::string_view kind_name(const StopServiceStep&) noexcept { return "stop_service"; }
constexpr std::string_view kind_name(const StartServiceStep&) noexcept { return "start_service"; }
constexpr std::string_view kind_name(const RestoreDependentsStep&) noexcept { return "restore_dependents"; }
constexpr std::string_view kind_name(const VerifyStep&) noexcept { return "verify"; }
constexpr std::string_view kind_name(const TrustCaStep&) noexcept { return "trust_ca"; }
constexpr std::string_view kind_name(const FixRootStoreStep&) noexcept { return "fix_root_store"; }
constexpr std::string_view kind_name(const AddIntermediatesStep&) noexcept { return "add_intermediates"; }
constexpr std::string_view kind_name(const SetSchannelStep&) noexcept { return "set_schannel"; }

constexpr std::array<std::string_view, 8> kCertificateStores{
    "Root", "CA", "ClientAuthIssuer", "My", "TrustedPeople", "TrustedPublisher", "AuthRoot", "Disallowed"};
}  // namespace

std::string_view step_kind(const StepAction& action) noexcept {
    return std::visit([](const auto& step) { return kind_name(step); }, action);
}

std::span<const std::string_view> known_certificate_stores() noexcept { return kCertificateStores; }

std::string ListenAddress::text() const {
    const bool ipv6 = address.find(':') != std::string::npos;
    return (ipv6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

}  // namespace certheal
