#include "core/model/host_trust.hpp"

#include <system_error>

namespace certheal {
namespace {

Failure not_windows() {
    return Failure{std::make_error_code(std::errc::not_supported),
                   "This host has no Schannel or http.sys: the host trust diagnosis is a Windows diagnosis"};
}

}  // namespace

std::string SslBinding::kind_name() const {
    switch (kind) {
        case Kind::ip_port: return "ip";
        case Kind::hostname_port: return "sni";
        case Kind::central_store: return "ccs";
    }
    return "ip";
}

Result<SchannelRegistry> NoHostTrustInspector::schannel() { return not_windows(); }
Result<HttpSysBindings> NoHostTrustInspector::bindings() { return not_windows(); }
Result<std::vector<std::string>> NoHostTrustInspector::addresses_of(const std::string&) { return not_windows(); }
Result<BuiltChain> NoHostTrustInspector::build_chain(const ChainRequest&) { return not_windows(); }

}  // namespace certheal
