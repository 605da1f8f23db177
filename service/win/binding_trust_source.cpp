#include "service/win/binding_trust_source.hpp"

#include <chrono>

#include "core/repair/diagnosis.hpp"

namespace certheal::win {

Result<BindingTrust> DiagnosedBindingTrust::binding_trust(const SiteConfig& site) {
    return binding_trust_of(inspector_, stores_, site, std::chrono::system_clock::now());
}

}  // namespace certheal::win
