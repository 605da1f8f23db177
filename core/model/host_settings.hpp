#pragma once
// Ports of the ladder's Windows steps that reach past the certificate stores:
//
//   SchannelSettings    the two Schannel values set_schannel writes (the Windows registry);
//   BindingTrustSource  what trust_ca "store": "auto" needs to know of a site: the trust mode and
//                       the store Schannel takes the trusted issuers from for the site's binding.
//                       The host trust diagnosis knows it (Windows); elsewhere there is none.
//
// Calls block (registry, http.sys, certificate stores): call them from the WorkerPool, or from
// the command line, never on the monitor's thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/result.hpp"

namespace certheal {

struct SiteConfig;

// --- Schannel's client-authentication values ------------------------------------------------

// Where Windows reads them.
inline constexpr std::string_view kSchannelKey = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL";
inline constexpr std::string_view kClientAuthTrustModeValue = "ClientAuthTrustMode";
inline constexpr std::string_view kSendTrustedIssuerListValue = "SendTrustedIssuerList";

// One value as found: absent, a REG_DWORD (what Windows reads), or of another type (which
// Windows ignores: its `type` says which).
struct RegistryDword {
    bool present = false;
    std::optional<std::uint32_t> number;  // set for a REG_DWORD
    std::string type;                     // "REG_DWORD", "REG_SZ", ...; empty when absent
};

class SchannelSettings {
public:
    virtual ~SchannelSettings() = default;
    // Whether this host has Schannel at all (Windows).
    virtual bool available() const noexcept = 0;
    // The value `name` of the SCHANNEL key; absent when the key or the value does not exist.
    virtual Result<RegistryDword> read(std::string_view name) = 0;
    // Sets `name` to a REG_DWORD `value`, creating the key if needed.
    virtual Result<Done> write(std::string_view name, std::uint32_t value) = 0;
};

// A host without Schannel: available() is false and every call fails saying so.
class NoSchannelSettings final : public SchannelSettings {
public:
    bool available() const noexcept override { return false; }
    Result<RegistryDword> read(std::string_view name) override;
    Result<Done> write(std::string_view name, std::uint32_t value) override;
};

// --- the store Schannel trusts for a site ---------------------------------------------------

struct BindingTrust {
    // ClientAuthTrustMode as Windows reads it: 0 machine trust (the default), 1 exclusive root
    // trust, 2 exclusive CA trust.
    std::uint32_t trust_mode = 0;
    // The LocalMachine store Schannel takes the trusted issuers from for this site's binding:
    // the binding's Ctl Store Name when it holds certificates, else ClientAuthIssuer when it holds
    // some, else Root.
    std::string issuer_store = "Root";
    std::string issuer_store_why;  // a clause: "the Ctl Store Name of the SNI binding intranet:443"
    bool issuer_store_from_binding = false;  // it is the binding's Ctl Store Name
    std::string binding;  // the binding's endpoint ("0.0.0.0:443", "intranet.contoso.com:443"); empty: none found
};

class BindingTrustSource {
public:
    virtual ~BindingTrustSource() = default;
    virtual bool available() const noexcept = 0;
    // Reads the host for `site` (blocks). A Failure says what could not be read.
    virtual Result<BindingTrust> binding_trust(const SiteConfig& site) = 0;
};

}  // namespace certheal
