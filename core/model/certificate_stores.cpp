#include "core/model/certificate_stores.hpp"

#include <system_error>

namespace certheal {

std::string local_machine_store(const std::string& store) { return "LocalMachine\\" + store; }
namespace {

Failure no_stores(const std::string& store) {
    return Failure{std::make_error_code(std::errc::not_supported),
                   "This platform has no system certificate store named " + store +
                       " (LocalMachine stores exist only on Windows); use a PEM bundle instead"};
}

}  // namespace

Result<std::vector<DerCertificate>> NoCertificateStores::list(const std::string& store) { return no_stores(store); }

Result<CertificateStores::Added> NoCertificateStores::add(const std::string& store, const DerCertificate&) {
    return no_stores(store);
}

Result<CertificateStores::Removed> NoCertificateStores::remove(const std::string& store, const DerCertificate&) {
    return no_stores(store);
}

}  // namespace certheal
