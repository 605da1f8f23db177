#include "core/probe/client_certificate_evidence.hpp"

#include <ctime>

#include <openssl/x509.h>

#include "core/describe/probe_sentences.hpp"
#include "core/probe/certificate_info.hpp"

namespace certheal {
namespace {

constexpr std::size_t kMaxCaNamesKept = 64;
constexpr std::size_t kMaxCaNameLength = 256;

std::string bounded(std::string text, std::size_t limit) {
    if (text.size() > limit) text = text.substr(0, limit) + "...";
    return text;
}

PresentedCertificate presented_certificate(const X509& certificate) {
    return PresentedCertificate{sha1_thumbprint(certificate), subject_text(certificate), not_before(certificate),
                                not_after(certificate)};
}

std::optional<std::string> validity_problem(const X509& certificate, const OwnCertificate& own, TimePoint wall_now) {
    auto now = std::chrono::system_clock::to_time_t(wall_now);
    const ASN1_TIME* not_before = X509_get0_notBefore(&certificate);
    const ASN1_TIME* not_after = X509_get0_notAfter(&certificate);
    if (not_after != nullptr && X509_cmp_time(not_after, &now) < 0) {
        return own_certificate_expired_sentence(own, asn1_time_text(not_after));
    }
    if (not_before != nullptr && X509_cmp_time(not_before, &now) > 0) {
        return own_certificate_not_yet_valid_sentence(own, asn1_time_text(not_before));
    }
    return std::nullopt;
}

}  // namespace

ClientCertificateEvidence client_certificate_evidence(SSL* ssl, bool certificate_requested, const std::string& site,
                                                      TimePoint now) {
    ClientCertificateEvidence evidence;
    X509* own = SSL_get_certificate(ssl);
    if (own != nullptr) {
        evidence.presented = presented_certificate(*own);
        evidence.subject = name_text(X509_get_subject_name(own));
        evidence.issuer = name_text(X509_get_issuer_name(own));
        evidence.problem = validity_problem(*own, OwnCertificate{site, evidence.subject, evidence.issuer}, now);
    }
    if (!certificate_requested) return evidence;
    std::vector<std::string> names;
    bool issuer_listed = false;
    int listed_names = 0;
    if (const STACK_OF(X509_NAME)* requested = SSL_get_client_CA_list(ssl)) {
        listed_names = sk_X509_NAME_num(requested);
        for (int index = 0; index < listed_names; ++index) {
            const X509_NAME* name = sk_X509_NAME_value(requested, index);
            // A server that sends its whole trust list (IIS with SendTrustedIssuerList=1) may
            // name hundreds of CAs: keep the evidence bounded, but compare against all of them.
            if (names.size() < kMaxCaNamesKept) names.push_back(bounded(name_text(name), kMaxCaNameLength));
            if (own != nullptr && X509_NAME_cmp(name, X509_get_issuer_name(own)) == 0) issuer_listed = true;
        }
    }
    if (own != nullptr && listed_names > 0) evidence.issuer_listed = issuer_listed;
    evidence.omitted_ca_names = static_cast<std::size_t>(listed_names) - names.size();
    evidence.ca_names = std::move(names);
    return evidence;
}

}  // namespace certheal
