#pragma once
// Private keys that stay where they live, as OpenSSL EVP_PKEYs: a small OpenSSL 3 provider of
// certheal's own ("certheal-keys", built in with OSSL_PROVIDER_add_builtin, so it works in the
// static `no-module` Windows build) with a key manager for RSA and EC keys and a signature
// operation for each. A key's private half is an opaque KeySigner (service/win: CNG's
// NCryptSignHash, CryptoAPI's CryptSignHash); its public half is the certificate's. OpenSSL
// hashes, the signer signs the digest: TLS 1.2 and 1.3 client authentication, RSA PKCS#1 v1.5,
// RSA-PSS and ECDSA, as the handshake asks. Nothing of the key is ever exported.
//
// Portable on purpose: it is OpenSSL only, so its TLS behaviour is tested on Linux with a
// software signer against real servers, and on Windows with the real providers.
//
// How the provider keeps out of everyone else's way: its key managers answer to "RSA" and "EC"
// (libssl recognises a key by these names), so it lives alone in an OpenSSL library context of
// its own, where only certheal's keys are made; everything else (key generation for key
// exchange, certificate decoding) fetches from the default context and never meets it. Its
// signatures have names of their own, so OpenSSL signs a certheal key only through them (it
// finds them through the key's provider), never with another provider's RSA or ECDSA.

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/x509.h>

#include "core/base/result.hpp"
#include "core/probe/tls_files.hpp"

namespace certheal {

enum class SignatureDigest { sha1, sha256, sha384, sha512 };
enum class SignaturePadding {
    pkcs1,  // RSA PKCS#1 v1.5 (DigestInfo inside)
    pss,    // RSA-PSS, MGF1 with the same digest, a salt as long as the digest
    ecdsa,  // ECDSA
};

std::string_view to_string(SignatureDigest digest) noexcept;    // "SHA-256"
std::string_view to_string(SignaturePadding padding) noexcept;  // "RSA-PSS"

// The private half of a key that lives elsewhere. Implementations must be thread-safe: probes on
// several threads share one key.
class KeySigner {
public:
    virtual ~KeySigner() = default;

    // Whether the key's provider can make this kind of signature (asked before a handshake
    // picks its signature algorithm, so that it never picks one the provider refuses).
    virtual bool can_sign(SignatureDigest digest, SignaturePadding padding) const = 0;

    // Signs `digest`, the hash of the data. RSA: the signature, big-endian, as long as the
    // modulus. ECDSA: r then s, each as long as the group order (what CNG returns; the provider
    // makes the DER of it). Blocks (the provider may talk to a smart card or an HSM).
    virtual Result<std::vector<unsigned char>> sign(SignatureDigest digest, SignaturePadding padding,
                                                    std::span<const unsigned char> digest_bytes) = 0;

    // The last sign() failure as a sentence, if one happened since the last call (a failed
    // handshake says it once).
    virtual std::optional<std::string> take_last_failure() = 0;
};

// A private key for the public key of `certificate` whose signatures `signer` makes. RSA and EC
// (P-256, P-384, P-521) keys; anything else is a Failure. Loads the provider on first use.
Result<EvpPkeyPtr> make_signer_key(std::shared_ptr<KeySigner> signer, const X509& certificate);

}  // namespace certheal
