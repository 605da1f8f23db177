#pragma once
// ClientIdentitySource on crypt32's LocalMachine system stores: a store client_cert
// (`{ "store": "My", "thumbprint": ... }` or a selector) becomes the identity to present.
//
// Every select() reads the store (read-only; at most about once a second per selector, so a
// thousand sites in one round read it once), describes each certificate for the portable
// choice (core/probe/client_cert_selection.hpp), and opens the chosen certificate's key where
// it lives (service/win/key_signers.hpp). The identity of a certificate is kept while the same
// certificate stays the choice: the key is opened once, not at every probe. The chain sent with
// it is what the LocalMachine chain engine builds from the stores (no network retrieval),
// without the root.
//
// Under Wine 8 the stores, CryptoAPI keys (rsaenh) and the choice work; CNG keys cannot be
// persisted there, so the CNG path is tested with a key handle attached to a certificate in
// memory (identity_of_certificate). docs/windows.md has the details.

#include <windows.h>
#include <wincrypt.h>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "core/probe/client_identity_source.hpp"

namespace certheal::win {

class StoreClientIdentities final : public ClientIdentitySource {
public:
    // `monotonic_now`: the clock that spaces the store reads (tests may pass their own).
    explicit StoreClientIdentities(std::function<std::chrono::steady_clock::time_point()> monotonic_now =
                                       std::chrono::steady_clock::now);

    bool available() const noexcept override { return true; }
    Result<SharedIdentity> select(const StoreClientCert& wanted) override;

private:
    struct Choice {
        std::chrono::steady_clock::time_point read_at;
        std::string thumbprint;
        SharedIdentity identity;                 // null when the choice failed
        std::optional<Failure> failure;
    };
    std::function<std::chrono::steady_clock::time_point()> monotonic_now_;
    std::mutex mutex_;
    std::map<std::string, Choice> choices_;  // by store_selector_key
};

// The identity of one certificate context (of a store or in memory): the certificate, its
// chain, and a key that signs through its provider. `store` names where it came from.
Result<SharedIdentity> identity_of_certificate(PCCERT_CONTEXT certificate, const std::string& store);

}  // namespace certheal::win
