#pragma once
// Pre-flight: what `check-config` and `status` tell an admin about the host beyond the config
// itself. A config can be valid while the host is already broken: the client certificate
// expired, the CA a trust_ca step re-syncs is missing from its target right now, or (Windows)
// a certificate in LocalMachine\Root that is not self-signed makes Schannel reject every
// client certificate. None of this changes an exit code; it is said so it is acted on.
//
// Reads files and certificate stores: blocks. Call it from the command line, or from the
// WorkerPool.

#include <string>
#include <vector>

#include "core/model/config_model.hpp"
#include "core/model/certificate_stores.hpp"
#include "core/base/clock.hpp"
#include "core/probe/client_identity_source.hpp"

namespace certheal {

struct PreflightFinding {
    enum class Level { ok, warning };
    Level level = Level::ok;
    std::string pointer;  // where in the config it comes from; "" for the host itself
    std::string message;  // a sentence an admin acts on
};

// "/remediation/steps/0/trust_ca: in sync: ..." or "warning: ..." like format_issue.
std::string format_finding(const PreflightFinding& finding);

// The client certificates of every site (each file once) that are expired or not yet valid
// at `now`, with their dates. A store client_cert (each selector once) is selected through
// `identities` as the probe selects it: which certificate, valid until when, where its key
// lives and what that key cannot sign; or why none fits. Without `identities` it is skipped.
std::vector<PreflightFinding> check_client_certificates(const Config& config, TimePoint now,
                                                        ClientIdentitySource* identities = nullptr);

// For every trust_ca step: is its CA in that bundle or store now?
std::vector<PreflightFinding> check_trust_ca_steps(const Config& config, CertificateStores& stores);

// Every certificate of LocalMachine\Root that is not self-signed (KB 2802568); nothing where
// the platform has no certificate stores.
std::vector<PreflightFinding> check_root_store(CertificateStores& stores);

// All of the above.
std::vector<PreflightFinding> preflight(const Config& config, CertificateStores& stores, TimePoint now,
                                        ClientIdentitySource* identities = nullptr);

}  // namespace certheal
