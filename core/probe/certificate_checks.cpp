#include "core/probe/certificate_checks.hpp"

#include <cstdlib>
#include <system_error>
#include <variant>

#include <openssl/x509v3.h>

#include "core/probe/certificate_info.hpp"

namespace certheal {
namespace {

namespace fs = std::filesystem;
using Problem = ClientIdentityProblem;

bool file_exists(const fs::path& file) {
    std::error_code ec;
    return fs::exists(file, ec);
}

std::vector<Problem> check_pem_pair(TlsMaterialCache& cache, const PemClientCert& pem) {
    std::vector<Problem> problems;
    if (auto certificates = cache.certificates(pem.cert_file); !certificates) {
        problems.push_back({Problem::Part::cert_file, Problem::Kind::unusable, certificates.error().message});
    }
    if (!file_exists(pem.key_file)) {
        problems.push_back({Problem::Part::key_file, Problem::Kind::missing, pem.key_file.string()});
    }
    if (!problems.empty()) return problems;
    if (auto identity = cache.client_identity(pem); !identity) {
        problems.push_back({Problem::Part::pem_pair, Problem::Kind::unusable, identity.error().message});
    }
    return problems;
}

std::vector<Problem> check_pkcs12(TlsMaterialCache& cache, const PfxClientCert& pfx) {
    std::vector<Problem> problems;
    if (!file_exists(pfx.pfx_file)) {
        problems.push_back({Problem::Part::pfx_file, Problem::Kind::missing, pfx.pfx_file.string()});
    }
    if (pfx.password_env && std::getenv(pfx.password_env->c_str()) == nullptr) {
        problems.push_back({Problem::Part::password_env, Problem::Kind::not_set, *pfx.password_env});
    }
    if (pfx.password_file && !file_exists(*pfx.password_file)) {
        problems.push_back({Problem::Part::password_file, Problem::Kind::missing, pfx.password_file->string()});
    }
    if (!problems.empty()) return problems;
    if (auto identity = cache.client_identity(pfx); !identity) {
        problems.push_back({Problem::Part::pfx_file, Problem::Kind::unusable, identity.error().message});
    }
    return problems;
}

}  // namespace

Result<CaCertificatesCheck> check_ca_certificates(TlsMaterialCache& cache, const fs::path& file) {
    auto loaded = cache.certificates(file);
    if (!loaded) return loaded.error();
    CaCertificatesCheck check;
    for (const auto& certificate : *loaded.value()) {
        if (X509_check_ca(certificate.get()) == 0) {
            check.non_ca_subjects.push_back(subject_text(*certificate));
        } else if (!is_self_signed(*certificate)) {
            check.intermediate_subjects.push_back(subject_text(*certificate));
        }
    }
    return check;
}

std::vector<ClientIdentityProblem> check_client_identity(TlsMaterialCache& cache, const ClientCert& client_cert) {
    if (const auto* pem = std::get_if<PemClientCert>(&client_cert)) return check_pem_pair(cache, *pem);
    if (const auto* pfx = std::get_if<PfxClientCert>(&client_cert)) return check_pkcs12(cache, *pfx);
    return {};  // a store certificate has no files: the store decides at every probe
}

}  // namespace certheal
