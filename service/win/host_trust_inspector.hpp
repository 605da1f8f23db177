#pragma once
// HostTrustInspector on Windows: what Schannel and http.sys decide client-certificate trust from.
//
// - schannel(): every value of HKLM\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL
//   (names and types as found, so that a misspelt or mistyped value can be named), the
//   Protocols\TLS 1.3\Server values, and the Windows build (RtlGetVersion: GetVersionEx lies to a
//   program without a compatibility manifest).
// - bindings(): http.sys's SSL configuration store. HttpQueryServiceConfiguration first, for each
//   of its three tables (HttpServiceConfigSSLCertInfo, ...SslSniCertInfo, ...SslCcsCertInfo),
//   enumerated with HttpServiceConfigQueryNext until ERROR_NO_MORE_ITEMS; for a table the API
//   cannot answer or answers with nothing, the registry keys http.sys keeps them in:
//   HKLM\SYSTEM\CurrentControlSet\Services\HTTP\Parameters\SslBindingInfo\<ip:port> (the address
//   as WSAAddressToString writes it: "0.0.0.0:443", "[::]:443"), SslSniBindingInfo\<host:port>
//   (or its HostnamePort value) and SslCcsBindingInfo\<0.0.0.0:port>, with the values SslCertHash,
//   SslCertStoreName, DefaultSslCertCheckMode, DefaultSslRevocationFreshnessTime,
//   DefaultSslRevocationUrlRetrievalTimeout, DefaultSslCtlIdentifier, DefaultSslCtlStoreName and
//   DefaultFlags. Wine's httpapi answers "not found" for every query, so under Wine the registry
//   path is the one that runs; on Windows the API answers. httpapi.dll is loaded when needed (the
//   SNI and CCS tables are newer than mingw's http.h, so their records are declared here).
// - build_chain(): CertGetCertificateChain the way Schannel builds a client's chain: the machine's
//   engine (HCCE_LOCAL_MACHINE) for trust mode 0; for modes 1 and 2 an engine whose only trust
//   anchors are the issuer store (CERT_CHAIN_ENGINE_CONFIG.hExclusiveRoot), accepting a CA held
//   there in mode 2 (dwExclusiveFlags CERT_CHAIN_EXCLUSIVE_ENABLE_CA_FLAG). The certificates the
//   client sends come as an additional store. Wine 8 honours hExclusiveRoot but not
//   dwExclusiveFlags; the portable diagnosis judges mode 2 from the chain as built as well.
//
// Every call reads only; nothing here writes to the registry, http.sys or a store.

#include "core/model/host_trust.hpp"

namespace certheal::win {

class SchannelHostTrustInspector final : public HostTrustInspector {
public:
    bool available() const noexcept override { return true; }
    Result<SchannelRegistry> schannel() override;
    Result<HttpSysBindings> bindings() override;
    Result<std::vector<std::string>> addresses_of(const std::string& host) override;
    Result<BuiltChain> build_chain(const ChainRequest& request) override;
};

}  // namespace certheal::win
