#pragma once
// A KeySigner over a private key in memory, for tests of the key provider and of store
// identities on any platform: it signs what the CNG and CryptoAPI signers sign, in their
// output form (ECDSA as r || s), can be limited to what a legacy provider can do, can be made
// to fail, and records what it was asked to sign.

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/probe/tls_files.hpp"
#include "service/key_provider.hpp"

namespace certheal::test {

class SoftwareSigner final : public KeySigner {
public:
    // `key`: the private key (PEM file).
    explicit SoftwareSigner(const std::filesystem::path& key_file);

    // Only these paddings (a legacy CryptoAPI provider: {pkcs1}); all when never called.
    void allow_only(std::set<SignaturePadding> paddings);
    // Every sign() fails with `sentence` from now on.
    void fail_with(std::string sentence);

    bool can_sign(SignatureDigest digest, SignaturePadding padding) const override;
    Result<std::vector<unsigned char>> sign(SignatureDigest digest, SignaturePadding padding,
                                            std::span<const unsigned char> digest_bytes) override;
    std::optional<std::string> take_last_failure() override;

    // What was signed, in order.
    std::vector<std::pair<SignatureDigest, SignaturePadding>> signed_so_far() const;

private:
    EvpPkeyPtr key_;
    mutable std::mutex mutex_;
    std::optional<std::set<SignaturePadding>> allowed_;
    std::optional<std::string> failure_;
    std::optional<std::string> last_failure_;
    std::vector<std::pair<SignatureDigest, SignaturePadding>> signed_;
};

// An identity as a store would hand it out: the certificate (PEM file), a key made by the key
// provider over `signer`, and a KeyHome that says so.
SharedIdentity software_store_identity(const std::filesystem::path& cert_file, std::shared_ptr<SoftwareSigner> signer,
                                       KeyHome home = {});

}  // namespace certheal::test
