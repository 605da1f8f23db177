#pragma once
// Port: what Windows decides client-certificate trust from, read off the host. The adapter
// (service/win/host_trust_inspector) only reads the registry, http.sys and crypt32 and hands the
// raw values over; what they mean (which binding a site gets, which store Schannel trusts, why a
// certificate would be refused) is decided portably in core/repair/diagnosis, so that it can be
// tested on every platform.
//
// The certificate stores themselves are read through the CertificateStores port.
//
// Calls block (registry, http.sys, chain building may fetch revocation lists): call them from the
// WorkerPool or the command line, never on the monitor's thread.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/base/result.hpp"
#include "core/model/certificate_stores.hpp"

namespace certheal {

// One value under HKLM\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL, as found:
// Windows reads its settings by exact name (case does not matter) and as REG_DWORD only.
struct RegistryValue {
    std::string name;
    std::string type;                     // "REG_DWORD", "REG_SZ", ... ("type N" for others)
    std::optional<std::uint32_t> number;  // REG_DWORD values
    std::string text;                     // REG_SZ / REG_EXPAND_SZ values
};

struct SchannelRegistry {
    bool key_present = false;
    std::vector<RegistryValue> values;  // every value of the SCHANNEL key (bounded by the adapter)
    // Protocols\TLS 1.3\Server: Enabled and DisabledByDefault, when set.
    std::optional<std::uint32_t> tls13_server_enabled;
    std::optional<std::uint32_t> tls13_server_disabled_by_default;
    std::uint32_t os_build = 0;  // e.g. 9200 Server 2012, 14393 Server 2016, 20348 Server 2022; 0 unknown
};

// One record of http.sys's SSL configuration store (netsh http show sslcert).
struct SslBinding {
    enum class Kind { ip_port, hostname_port, central_store };
    Kind kind = Kind::ip_port;
    std::string endpoint;       // "0.0.0.0:443", "[::]:443", "10.0.0.5:443", "intranet.contoso.com:443"
    std::string address;        // ip_port: the address ("0.0.0.0", "::", "10.0.0.5"); hostname_port: the host
    std::uint16_t port = 0;
    std::string source;         // "http.sys" (HttpQueryServiceConfiguration) or "registry"
    std::string certificate_hash;        // upper-case hex
    std::string certificate_store;       // where the server certificate is ("MY" when unset)
    std::uint32_t cert_check_mode = 0;   // DefaultCertCheckMode: 1 no revocation check, 2 cached only, 4 freshness
    std::uint32_t revocation_freshness_time = 0;         // seconds
    std::uint32_t revocation_url_retrieval_timeout = 0;  // milliseconds
    std::string ctl_identifier;          // DefaultSslCtlIdentifier
    std::string ctl_store_name;          // DefaultSslCtlStoreName: the store of trusted issuers
    std::uint32_t flags = 0;             // DefaultFlags (HTTP_SERVICE_CONFIG_SSL_FLAG_*)

    // The DefaultFlags and DefaultCertCheckMode bits certheal reads (http.h).
    static constexpr std::uint32_t kNegotiateClientCert = 0x00000002;
    static constexpr std::uint32_t kDisableTls13 = 0x00000040;
    static constexpr std::uint32_t kNoRevocationCheck = 0x1;
    static constexpr std::uint32_t kRevocationCacheOnly = 0x2;

    bool negotiates_client_certificate() const noexcept { return (flags & kNegotiateClientCert) != 0; }
    bool disables_tls13() const noexcept { return (flags & kDisableTls13) != 0; }
    bool checks_revocation() const noexcept { return (cert_check_mode & kNoRevocationCheck) == 0; }
    bool revocation_cache_only() const noexcept { return (cert_check_mode & kRevocationCacheOnly) != 0; }
    std::string kind_name() const;  // "ip", "sni", "ccs"
};

struct HttpSysBindings {
    std::vector<SslBinding> bindings;
    // What was read from where, one sentence each ("http.sys answered 'not found' for the SNI
    // bindings; read 2 from the registry").
    std::vector<std::string> notes;
};

// What CertGetCertificateChain reports, kept raw: dwErrorStatus of the chain and the
// certificates it built, leaf first. The CERT_TRUST_* error bits certheal reads:
namespace chain_status {
inline constexpr std::uint32_t not_time_valid = 0x00000001;
inline constexpr std::uint32_t revoked = 0x00000004;
inline constexpr std::uint32_t not_signature_valid = 0x00000008;
inline constexpr std::uint32_t not_valid_for_usage = 0x00000010;
inline constexpr std::uint32_t untrusted_root = 0x00000020;
inline constexpr std::uint32_t revocation_status_unknown = 0x00000040;
inline constexpr std::uint32_t partial_chain = 0x00010000;
inline constexpr std::uint32_t offline_revocation = 0x01000000;
}  // namespace chain_status

struct ChainRequest {
    enum class Revocation { none, online, cache_only };
    DerCertificate leaf;
    std::vector<DerCertificate> sent_intermediates;  // what the client sends with its certificate
    // Modes 1 and 2: the LocalMachine store whose certificates are the only trust anchors
    // (CERT_CHAIN_ENGINE_CONFIG.hExclusiveRoot); none: the machine's own trust (HCCE_LOCAL_MACHINE).
    std::optional<std::string> exclusive_store;
    bool exclusive_accepts_ca = false;  // mode 2: an intermediate held there is a trust anchor too
    Revocation revocation = Revocation::none;
    std::chrono::milliseconds url_retrieval_timeout{5000};
};

struct BuiltChain {
    std::uint32_t error_status = 0;
    std::vector<DerCertificate> certificates;  // leaf first, as far as it could be built
};

class HostTrustInspector {
public:
    virtual ~HostTrustInspector() = default;

    // Whether this host has Schannel and http.sys at all (Windows).
    virtual bool available() const noexcept = 0;

    virtual Result<SchannelRegistry> schannel() = 0;

    // Every SSL binding of http.sys: HttpQueryServiceConfiguration first, and the registry
    // (HKLM\SYSTEM\CurrentControlSet\Services\HTTP\Parameters\Ssl*BindingInfo) for a table the
    // API gives nothing for.
    virtual Result<HttpSysBindings> bindings() = 0;

    // The addresses `host` resolves to on this host, as text ("10.0.0.5", "::1"); empty when it
    // does not resolve.
    virtual Result<std::vector<std::string>> addresses_of(const std::string& host) = 0;

    // The chain CertGetCertificateChain builds for `request`, the way Schannel builds it.
    virtual Result<BuiltChain> build_chain(const ChainRequest& request) = 0;
};

// A host without Schannel: available() is false and every call fails saying so.
class NoHostTrustInspector final : public HostTrustInspector {
public:
    bool available() const noexcept override { return false; }
    Result<SchannelRegistry> schannel() override;
    Result<HttpSysBindings> bindings() override;
    Result<std::vector<std::string>> addresses_of(const std::string& host) override;
    Result<BuiltChain> build_chain(const ChainRequest& request) override;
};

}  // namespace certheal
