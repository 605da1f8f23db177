#pragma once
// What a finished handshake says about certheal's client certificate: the certificate presented,
// whether it is within its dates, the CA names the server asked for and whether certheal's issuer
// is among them (the field report's mechanism).

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <openssl/ssl.h>

#include "core/base/clock.hpp"
#include "core/model/probe_result.hpp"

namespace certheal {

struct ClientCertificateEvidence {
    std::optional<PresentedCertificate> presented;  // unset when certheal presented none
    std::string subject;
    std::string issuer;
    // Why certheal's certificate cannot be accepted (expired, not yet valid), as a sentence.
    std::optional<std::string> problem;
    // The CA names the server asked for, bounded; set only when it asked for a certificate.
    std::optional<std::vector<std::string>> ca_names;
    std::size_t omitted_ca_names = 0;  // names beyond those kept
    // Unset when the server named no CA or certheal presented no certificate.
    std::optional<bool> issuer_listed;
};

// `now`: the wall time the certificate's dates are held against.
ClientCertificateEvidence client_certificate_evidence(SSL* ssl, bool certificate_requested, const std::string& site,
                                                      TimePoint now);

}  // namespace certheal
