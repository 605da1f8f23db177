#include "support/software_signer.hpp"

#include <stdexcept>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "core/probe/certificate_info.hpp"

namespace certheal::test {
namespace {

const EVP_MD* md_of(SignatureDigest digest) {
    switch (digest) {
    case SignatureDigest::sha1: return EVP_sha1();
    case SignatureDigest::sha256: return EVP_sha256();
    case SignatureDigest::sha384: return EVP_sha384();
    case SignatureDigest::sha512: return EVP_sha512();
    }
    return nullptr;
}

Failure failed(std::string sentence) { return Failure{std::make_error_code(std::errc::io_error), std::move(sentence)}; }

}  // namespace

SoftwareSigner::SoftwareSigner(const std::filesystem::path& key_file) {
    FILE* file = std::fopen(key_file.string().c_str(), "rb");
    if (file == nullptr) throw std::runtime_error("cannot open " + key_file.string());
    key_.reset(PEM_read_PrivateKey(file, nullptr, nullptr, nullptr));
    std::fclose(file);
    if (!key_) throw std::runtime_error("no private key in " + key_file.string());
}

void SoftwareSigner::allow_only(std::set<SignaturePadding> paddings) {
    std::lock_guard lock(mutex_);
    allowed_ = std::move(paddings);
}

void SoftwareSigner::fail_with(std::string sentence) {
    std::lock_guard lock(mutex_);
    failure_ = std::move(sentence);
}

bool SoftwareSigner::can_sign(SignatureDigest digest, SignaturePadding padding) const {
    std::lock_guard lock(mutex_);
    if (allowed_ && allowed_->count(padding) == 0) return false;
    if (digest == SignatureDigest::sha1) return false;
    return EVP_PKEY_is_a(key_.get(), "EC") ? padding == SignaturePadding::ecdsa : padding != SignaturePadding::ecdsa;
}

Result<std::vector<unsigned char>> SoftwareSigner::sign(SignatureDigest digest, SignaturePadding padding,
                                                        std::span<const unsigned char> digest_bytes) {
    {
        std::lock_guard lock(mutex_);
        if (failure_) {
            last_failure_ = failure_;
            return failed(*failure_);
        }
        signed_.emplace_back(digest, padding);
    }
    if (!can_sign(digest, padding)) return failed("the test signer was asked for a signature it cannot make");
    EVP_PKEY_CTX* context = EVP_PKEY_CTX_new(key_.get(), nullptr);
    bool ok = context != nullptr && EVP_PKEY_sign_init(context) == 1 &&
              EVP_PKEY_CTX_set_signature_md(context, md_of(digest)) == 1;
    if (ok && padding != SignaturePadding::ecdsa) {
        ok = EVP_PKEY_CTX_set_rsa_padding(
                 context, padding == SignaturePadding::pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) == 1;
        if (ok && padding == SignaturePadding::pss) ok = EVP_PKEY_CTX_set_rsa_pss_saltlen(context, RSA_PSS_SALTLEN_DIGEST) == 1;
    }
    std::size_t length = 0;
    std::vector<unsigned char> signature;
    if (ok) ok = EVP_PKEY_sign(context, nullptr, &length, digest_bytes.data(), digest_bytes.size()) == 1;
    if (ok) {
        signature.resize(length);
        ok = EVP_PKEY_sign(context, signature.data(), &length, digest_bytes.data(), digest_bytes.size()) == 1;
        signature.resize(length);
    }
    EVP_PKEY_CTX_free(context);
    if (!ok) return failed("the test signer could not sign: " + openssl_error_text());
    if (padding != SignaturePadding::ecdsa) return signature;
    // As CNG returns it: r and s, each as long as the group order.
    const unsigned char* der = signature.data();
    ECDSA_SIG* parsed = d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(signature.size()));
    if (parsed == nullptr) return failed("the test signer made no ECDSA signature");
    const int half = (EVP_PKEY_get_bits(key_.get()) + 7) / 8;
    std::vector<unsigned char> raw(static_cast<std::size_t>(half) * 2);
    BN_bn2binpad(ECDSA_SIG_get0_r(parsed), raw.data(), half);
    BN_bn2binpad(ECDSA_SIG_get0_s(parsed), raw.data() + half, half);
    ECDSA_SIG_free(parsed);
    return raw;
}

std::optional<std::string> SoftwareSigner::take_last_failure() {
    std::lock_guard lock(mutex_);
    return std::exchange(last_failure_, std::nullopt);
}

std::vector<std::pair<SignatureDigest, SignaturePadding>> SoftwareSigner::signed_so_far() const {
    std::lock_guard lock(mutex_);
    return signed_;
}

SharedIdentity software_store_identity(const std::filesystem::path& cert_file, std::shared_ptr<SoftwareSigner> signer,
                                       KeyHome home) {
    auto certificates = load_certificates(cert_file);
    if (!certificates) throw std::runtime_error(certificates.error().message);
    ClientIdentity identity;
    identity.certificate = std::move(certificates.value().front());
    auto key = make_signer_key(signer, *identity.certificate);
    if (!key) throw std::runtime_error(key.error().message);
    identity.private_key = std::move(key.value());
    if (home.thumbprint.empty()) home.thumbprint = sha1_thumbprint(*identity.certificate);
    if (home.store.empty()) home.store = "LocalMachine\\My";
    if (home.provider.empty()) home.provider = "the test's software signer";
    if (!home.last_signing_failure) home.last_signing_failure = [weak = std::weak_ptr<SoftwareSigner>(signer)] {
        auto alive = weak.lock();
        return alive ? alive->take_last_failure() : std::nullopt;
    };
    identity.key_home = std::move(home);
    return std::make_shared<const ClientIdentity>(std::move(identity));
}

}  // namespace certheal::test
