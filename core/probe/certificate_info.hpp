#pragma once
// What people and events are told about a certificate: its names as OpenSSL prints them in
// RFC 2253 form, its thumbprints as Windows shows them, its dates; and the checks that the
// trust steps and pre-flight share (DER identity, self-signed).

#include <optional>
#include <string>

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include "core/model/certificate_stores.hpp"
#include "core/base/clock.hpp"
#include "core/probe/tls_files.hpp"

namespace certheal {

// "CN=Contoso Issuing CA,DC=contoso,DC=com" (X509_NAME_print_ex with XN_FLAG_RFC2253).
std::string name_text(const X509_NAME* name);
std::string subject_text(const X509& certificate);
std::string issuer_text(const X509& certificate);

// Upper-case hex of the digest of the DER encoding, as certmgr and PowerShell show it.
std::string sha1_thumbprint(const X509& certificate);
std::string sha256_thumbprint(const X509& certificate);

// "2026-11-24T22:31:05.000Z" (the one format of times people read; certificates count whole seconds)
std::string asn1_time_text(const ASN1_TIME* time);

DerCertificate to_der(const X509& certificate);
// Empty when the bytes are not one DER certificate (trailing bytes included).
X509Ptr from_der(const DerCertificate& der);

// Self-signed in the sense Schannel requires of LocalMachine\Root (KB 2802568): the subject
// is the issuer and the signature is made with the certificate's own key (a signature this
// OpenSSL cannot check at all does not count against it).
bool is_self_signed(const X509& certificate);

// The oldest error on OpenSSL's error queue as text (the queue is cleared), or "unknown
// OpenSSL error" when it is empty.
std::string openssl_error_text();

// The certificate's notBefore / notAfter as system time.
TimePoint not_before(const X509& certificate);
TimePoint not_after(const X509& certificate);

// A summary for events: {"subject", "issuer", "sha1", "sha256", "not_after"}.
struct CertificateSummary {
    std::string subject;
    std::string issuer;
    std::string sha1;
    std::string sha256;
    std::string not_after;

    static CertificateSummary of(const X509& certificate);
};

}  // namespace certheal
