#pragma once
// The private key of a store certificate, signing where it lives (service/key_provider.hpp's
// KeySigner on Windows):
//
// - CNG (a key storage provider: Microsoft Software KSP, Platform Crypto Provider (TPM), a
//   smart card KSP): NCryptSignHash with RSA PKCS#1 v1.5, RSA-PSS (salt as long as the digest)
//   or ECDSA, whatever the handshake needs.
// - CryptoAPI (a legacy CSP): CryptSignHash, which makes PKCS#1 v1.5 only. The Microsoft RSA
//   CSPs of type PROV_RSA_FULL hash no SHA-2, so a key in one of them is opened again in the
//   "Microsoft Enhanced RSA and AES Cryptographic Provider" (the same key container, as
//   Windows' own TLS does). Such a key is offered only the PKCS#1 signature algorithms with the
//   hashes the provider has, and TLS 1.2 at most (TLS 1.3 signs RSA with PSS only).
//
// The key is found as CryptAcquireCertificatePrivateKey finds it (CNG preferred, no UI), or,
// when that fails, straight from the certificate's CERT_KEY_PROV_INFO (Wine 8 ignores the
// machine-keyset flag there, so it cannot open a LocalMachine key). An exportable key is used
// the same way and never exported. Signing is serialised per key.

#include <windows.h>
#include <wincrypt.h>

#include <memory>

#include "core/base/result.hpp"
#include "core/probe/tls_files.hpp"
#include "service/key_provider.hpp"

namespace certheal::win {

// A signer for the private key of `certificate` (a context of a store, kept alive by the
// signer), and what the TLS context must know about where it lives. `store` only names the
// store in sentences ("LocalMachine\My").
struct OpenedKey {
    std::shared_ptr<KeySigner> signer;
    KeyHome home;
};
Result<OpenedKey> open_certificate_key(PCCERT_CONTEXT certificate, const std::string& store);

}  // namespace certheal::win
