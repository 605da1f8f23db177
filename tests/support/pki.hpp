#pragma once
// A throwaway PKI for tests, written into a fresh temporary folder that is removed again
// when the Pki goes away. Built with the OpenSSL library rather than the `openssl` CLI so
// it is fast (EC P-256 keys), spawns no process, and works the same in the Windows build.

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace certheal::test {

// A fresh, empty temporary folder, removed with everything in it on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const noexcept { return path_; }
    std::filesystem::path write(const std::string& name, const std::string& content) const;

private:
    std::filesystem::path path_;
};

struct PkiOptions {
    std::string pfx_password = "correct horse battery staple";
};

// Files (all PEM unless said otherwise):
//   ca_cert, ca_key                 the CA that issues the server and client certificates
//   server_cert, server_key         CN=localhost, SAN DNS:localhost, IP:127.0.0.1
//   client_cert, client_key         CN=certheal-probe, clientAuth, issued by the CA
//   client_pfx                      the client key+cert+CA as PKCS#12 with `pfx_password`
//   other_ca_cert, other_ca_key     an unrelated CA (for "unknown CA" and desync scenarios)
//   other_client_cert/key           a client certificate issued by the unrelated CA
//   expired_client_cert/key         issued by the CA, expired yesterday
//   not_yet_valid_client_cert/key   issued by the CA, valid from 30 days from now
//   intermediate_ca_cert            a CA certificate issued by the CA (not self-signed)
//   look_alike_root_cert            names itself as its issuer but was signed by the CA's key
//   mismatched_key                  a key that belongs to no certificate
//   rsa_client_cert/key             CN=certheal-probe-rsa, clientAuth, an RSA-2048 key, issued by the CA
//   garbage_cert                    a file that looks like PEM but does not parse
class Pki {
public:
    explicit Pki(PkiOptions options = {});
    const std::filesystem::path& dir() const noexcept { return temp_.path(); }
    const std::string& pfx_password() const noexcept { return options_.pfx_password; }

    std::filesystem::path ca_cert, ca_key;
    std::filesystem::path server_cert, server_key;
    std::filesystem::path client_cert, client_key, client_pfx;
    std::filesystem::path other_ca_cert, other_ca_key;
    std::filesystem::path other_client_cert, other_client_key;
    std::filesystem::path expired_client_cert, expired_client_key;
    std::filesystem::path not_yet_valid_client_cert, not_yet_valid_client_key;
    std::filesystem::path intermediate_ca_cert;
    std::filesystem::path look_alike_root_cert;
    std::filesystem::path mismatched_key;
    std::filesystem::path rsa_client_cert, rsa_client_key;
    std::filesystem::path garbage_cert;

    // Writes `name` into the PKI folder and returns its path.
    std::filesystem::path write(const std::string& name, const std::string& content) const {
        return temp_.write(name, content);
    }

private:
    TempDir temp_;
    PkiOptions options_;
};

// A client certificate (clientAuth) issued by `pki`'s CA, valid from now + `not_before` to
// now + `not_after`, with an RSA-2048 or EC P-256 key: `<name>.pem` and `<name>.key` in the PKI
// folder (renewals and expired certificates for the store tests).
struct IssuedCertificate {
    std::filesystem::path cert, key;
};
IssuedCertificate issue_client_certificate(const Pki& pki, const std::string& name, const std::string& common_name,
                                           std::chrono::seconds not_before, std::chrono::seconds not_after, bool rsa);

// Sets (or with unset_env removes) an environment variable of this test process.
void set_env(const std::string& name, const std::string& value);
void unset_env(const std::string& name);

// Sets an environment variable for the lifetime of the guard, then removes it.
class ScopedEnv {
public:
    ScopedEnv(std::string name, const std::string& value) : name_(std::move(name)) { set_env(name_, value); }
    ~ScopedEnv() { unset_env(name_); }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    std::string name_;
};

}  // namespace certheal::test
