#include "core/probe/client_identity_source.hpp"

#include <system_error>

#include "core/probe/client_cert_selection.hpp"

namespace certheal {

Result<SharedIdentity> NoClientIdentitySource::select(const StoreClientCert& wanted) {
    return Failure{std::make_error_code(std::errc::operation_not_supported),
                   "certheal cannot take " + describe_store_selector(wanted) +
                       ": this host has no certificate stores (they are a Windows feature); name a cert_file and "
                       "key_file or a pfx_file instead"};
}

}  // namespace certheal
