#include "core/probe/certificate_info.hpp"

#include <array>
#include <ctime>
#include <memory>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>

namespace certheal {

std::string openssl_error_text() {
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) return "unknown OpenSSL error";
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    return text;
}

namespace {

struct BioFree {
    void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};
struct Asn1TimeFree {
    void operator()(ASN1_TIME* time) const noexcept { ASN1_TIME_free(time); }
};

std::string digest_hex(const X509& certificate, const EVP_MD* digest) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> bytes{};
    unsigned int length = 0;
    if (X509_digest(&certificate, digest, bytes.data(), &length) != 1) {
        ERR_clear_error();
        return "(no thumbprint)";
    }
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string text;
    text.reserve(std::size_t{length} * 2);
    for (unsigned int index = 0; index < length; ++index) {
        text += kHex[bytes[index] >> 4];
        text += kHex[bytes[index] & 0x0F];
    }
    return text;
}

TimePoint as_time_point(const ASN1_TIME* time) {
    std::unique_ptr<ASN1_TIME, Asn1TimeFree> epoch(ASN1_TIME_set(nullptr, 0));
    int days = 0;
    int seconds = 0;
    if (time == nullptr || !epoch || ASN1_TIME_diff(&days, &seconds, epoch.get(), time) != 1) {
        ERR_clear_error();
        return TimePoint{};
    }
    return TimePoint{} + std::chrono::hours(24) * days + std::chrono::seconds(seconds);
}

}  // namespace

std::string name_text(const X509_NAME* name) {
    std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
    if (!bio || name == nullptr || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
        ERR_clear_error();
        return "(unreadable name)";
    }
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    return length > 0 ? std::string(data, static_cast<std::size_t>(length)) : std::string("(empty name)");
}

std::string subject_text(const X509& certificate) { return name_text(X509_get_subject_name(&certificate)); }
std::string issuer_text(const X509& certificate) { return name_text(X509_get_issuer_name(&certificate)); }

std::string sha1_thumbprint(const X509& certificate) { return digest_hex(certificate, EVP_sha1()); }
std::string sha256_thumbprint(const X509& certificate) { return digest_hex(certificate, EVP_sha256()); }

std::string asn1_time_text(const ASN1_TIME* time) {
    std::tm parts{};
    if (time == nullptr || ASN1_TIME_to_tm(time, &parts) != 1) {
        ERR_clear_error();
        return "(unreadable date)";
    }
    char text[32];
    // The one format of times people read (format_time_utc); certificates count whole seconds.
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S.000Z", &parts);
    return text;
}

DerCertificate to_der(const X509& certificate) {
    unsigned char* bytes = nullptr;
    const int length = i2d_X509(&certificate, &bytes);
    if (length <= 0) {
        ERR_clear_error();
        return {};
    }
    DerCertificate der(reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(length));
    OPENSSL_free(bytes);
    return der;
}

X509Ptr from_der(const DerCertificate& der) {
    const auto* cursor = reinterpret_cast<const unsigned char*>(der.data());
    X509Ptr certificate(d2i_X509(nullptr, &cursor, static_cast<long>(der.size())));
    ERR_clear_error();
    if (certificate && cursor != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) return nullptr;
    return certificate;
}

bool is_self_signed(const X509& certificate) {
    if (X509_NAME_cmp(X509_get_subject_name(&certificate), X509_get_issuer_name(&certificate)) != 0) return false;
    // Only a signature that verifiably is not its own counts against it: an old root signed
    // with an algorithm this OpenSSL cannot check (MD2, a national curve) gets the benefit of
    // the doubt, because moving a real root out of Root would break what it anchors.
    auto* mutable_certificate = const_cast<X509*>(&certificate);  // OpenSSL 3.0 takes non-const here
    EVP_PKEY* key = X509_get0_pubkey(&certificate);
    const int verified = key != nullptr ? X509_verify(mutable_certificate, key) : -1;
    ERR_clear_error();
    return verified != 0;
}

TimePoint not_before(const X509& certificate) { return as_time_point(X509_get0_notBefore(&certificate)); }
TimePoint not_after(const X509& certificate) { return as_time_point(X509_get0_notAfter(&certificate)); }

CertificateSummary CertificateSummary::of(const X509& certificate) {
    return {subject_text(certificate), issuer_text(certificate), sha1_thumbprint(certificate),
            sha256_thumbprint(certificate), asn1_time_text(X509_get0_notAfter(&certificate))};
}

}  // namespace certheal
