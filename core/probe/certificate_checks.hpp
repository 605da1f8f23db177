#pragma once
// What `check-config` asks of the certificate and key files a config names, before the prober
// or a trust step needs them: does each file load, does the key match its certificate, is the
// CA a trust step would add really a CA. Facts only: config/ says each at its JSON pointer.
// Everything is decoded through the TlsMaterialCache, so the prober reuses what was checked.

#include <filesystem>
#include <string>
#include <vector>

#include "core/base/result.hpp"
#include "core/model/config_model.hpp"
#include "core/probe/tls_files.hpp"

namespace certheal {

// The certificates of a trust_ca step's file, once they load: the subjects of those that are
// not CA certificates (X509_check_ca). A server cannot trust client certificates through one
// of them, so the file is most likely the wrong one.
struct CaCertificatesCheck {
    std::vector<std::string> non_ca_subjects;
    std::vector<std::string> intermediate_subjects;  // CA certificates that are not self-signed
};
Result<CaCertificatesCheck> check_ca_certificates(TlsMaterialCache& cache, const std::filesystem::path& file);

// One thing that keeps a client identity from being presented.
struct ClientIdentityProblem {
    // Where the problem is: one of the ClientCert fields, or the identity as a whole (the PEM
    // pair that does not load together, e.g. a key that does not match its certificate).
    enum class Part { cert_file, key_file, pfx_file, password_env, password_file, pem_pair };
    enum class Kind {
        unusable,   // `detail`: why it does not load
        missing,    // the file does not exist; `detail`: its path
        not_set,    // the environment variable is not set; `detail`: its name
    };
    Part part;
    Kind kind;
    std::string detail;
};

// Every problem of the identity, checked file by file first and then as a whole (only when
// each file is there): empty when it loads. A PKCS#12 that does not open is a problem of its
// pfx_file. Never says a password. A store certificate has no files: none.
std::vector<ClientIdentityProblem> check_client_identity(TlsMaterialCache& cache, const ClientCert& client_cert);

}  // namespace certheal
