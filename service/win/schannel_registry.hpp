#pragma once
// SchannelSettings on the Windows registry: the REG_DWORD values of
// HKLM\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL that set_schannel writes
// (ClientAuthTrustMode, SendTrustedIssuerList). Windows reads them when Schannel starts its
// credentials, so what is written applies after the web service restarts (or a reboot).

#include <cstdint>
#include <string_view>

#include "core/model/host_settings.hpp"

namespace certheal::win {

class RegistrySchannelSettings final : public SchannelSettings {
public:
    bool available() const noexcept override { return true; }
    Result<RegistryDword> read(std::string_view name) override;
    Result<Done> write(std::string_view name, std::uint32_t value) override;
};

}  // namespace certheal::win
