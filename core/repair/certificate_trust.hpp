#pragma once
// The trust steps, portable: trust_ca (make a web server trust the CA that issues the client
// certificates again: the IISCA step of the field report) and fix_root_store (KB 2802568:
// move the certificates that are not self-signed out of LocalMachine\Root, where they make
// Schannel reject every client certificate). They decide what is missing or misplaced; the
// platform only moves bytes (CertificateStores, FileReplacer).
//
// Every function reads files or stores and blocks: call them from the WorkerPool or the
// command line. `apply = false` only looks (dry run, pre-flight) and changes nothing.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/model/config_model.hpp"
#include "core/probe/certificate_info.hpp"
#include "core/model/certificate_stores.hpp"
#include "core/model/ports.hpp"
#include "core/base/result.hpp"

namespace certheal {

// What trust_ca found in its target, and what it added there (or would add, without apply).
struct TrustCaReport {
    std::string target;  // "LocalMachine\Root" or the bundle's path
    std::vector<CertificateSummary> missing;   // added, or with apply = false: would be added
    std::vector<CertificateSummary> present;   // already trusted there: left alone
    bool changed = false;                      // something was written
    // A bundle's names (hard links). With more than one, the new file takes the place of this
    // name only: the others keep the old contents (the step's event says so).
    std::uint64_t hard_links = 1;
};

// The largest bundle certheal reads: far beyond any real CA bundle, and a bound on what a
// damaged or hostile file can make it load.
inline constexpr std::size_t kMaxBundleBytes = std::size_t{16} * 1024 * 1024;

// A step with "store": "auto" is not for this function: the store depends on the site's binding
// (core/repair/host_trust_steps, trust_ca_auto); it fails saying so.
Result<TrustCaReport> trust_ca(const TrustCaStep& step, CertificateStores& stores, FileReplacer& files, bool apply);

// Adds to LocalMachine\<store> each of `authorities` that is not there yet (with apply = false
// only says which): the store half of trust_ca, for steps that choose the store themselves.
Result<TrustCaReport> trust_ca_in_store(const std::vector<X509Ptr>& authorities, const std::string& store,
                                        CertificateStores& stores, bool apply);

// A certificate in LocalMachine\Root that is not self-signed.
struct MisplacedRootCertificate {
    CertificateSummary summary;
    DerCertificate der;
};

// Every certificate of LocalMachine\Root that is not self-signed (subject differs from the
// issuer, or the signature is not its own). Empty where the platform has no stores.
Result<std::vector<MisplacedRootCertificate>> misplaced_root_certificates(CertificateStores& stores);

struct RootStoreReport {
    std::string move_to;                      // "LocalMachine\CA"
    std::vector<CertificateSummary> moved;    // or with apply = false: would be moved
    bool changed = false;
};

// Moves each misplaced certificate: added to LocalMachine\<move_to> first, then deleted from
// Root, and never deleted when it could not be added. A Failure says which were moved before
// the one that failed.
Result<RootStoreReport> fix_root_store(const FixRootStoreStep& step, CertificateStores& stores, bool apply);

// One sentence per misplaced certificate, naming the effect and the fix (pre-flight and the
// root_store_misplaced event share it).
std::string misplaced_root_sentence(const CertificateSummary& certificate);

}  // namespace certheal
