#pragma once
// Port: where a store client certificate comes from. A site's client_cert may name a
// certificate of a system store (Windows: LocalMachine\My) instead of files; this finds the
// certificate the selector names now (core/probe/client_cert_selection.hpp decides which) and
// hands back an identity whose private key is an EVP_PKEY that signs where the key lives (a CNG
// or CryptoAPI provider). The prober installs it like any other key: it never knows where a
// key lives, and no key is ever exported or written to disk.
//
// Calls block (registry reads inside crypt32, a key provider that may talk to a smart card or
// an HSM): call them from a probe thread, the WorkerPool or the command line, never on the
// monitor's thread. Thread-safe.

#include <string>

#include "core/base/result.hpp"
#include "core/model/config_model.hpp"
#include "core/probe/tls_files.hpp"

namespace certheal {

class ClientIdentitySource {
public:
    virtual ~ClientIdentitySource() = default;

    // Whether this platform has certificate stores to take a client certificate from.
    virtual bool available() const noexcept = 0;

    // The certificate `wanted` names at this moment, its chain as far as the host's stores
    // know it, and a key that signs through its own provider. Re-reads the store at most
    // about once a second, so a renewed certificate is used from the next probe after it
    // appears. A Failure says what was searched and why nothing fits (no match, only expired
    // matches, a key that cannot be opened); the prober reports it as client_cert_invalid.
    virtual Result<SharedIdentity> select(const StoreClientCert& wanted) = 0;
};

// The platform without certificate stores: every select() fails with a sentence saying so.
class NoClientIdentitySource final : public ClientIdentitySource {
public:
    bool available() const noexcept override { return false; }
    Result<SharedIdentity> select(const StoreClientCert& wanted) override;
};

}  // namespace certheal
