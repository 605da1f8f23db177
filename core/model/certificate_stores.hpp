#pragma once
// Port: the platform's system certificate stores. On Windows these are the LocalMachine
// system stores (Root, CA, ClientAuthIssuer, My, ...) that IIS and Schannel read; an IIS
// host's client-certificate trust lives there. Other platforms have none (available() is
// false) and keep their trust in PEM files instead.
//
// The adapter only moves DER bytes in and out of a store; everything that decides (which
// certificate is missing, which one is misplaced, what to say about it) is portable and
// lives beside the callers, so it can be tested with a fake.
//
// Calls block (registry and file I/O inside crypt32): call them from the WorkerPool, or from
// the command line, never on the monitor's thread.

#include <string>
#include <vector>

#include "core/base/result.hpp"

namespace certheal {

// "LocalMachine\\Root": a store of the local machine as Windows names it, in sentences and events.
std::string local_machine_store(const std::string& store);

// One certificate, DER encoded (the bytes of a .cer file).
using DerCertificate = std::string;

class CertificateStores {
public:
    enum class Added { added, already_present };
    enum class Removed { removed, not_present };

    virtual ~CertificateStores() = default;

    // Whether this platform has system certificate stores at all.
    virtual bool available() const noexcept = 0;

    // Every certificate in LocalMachine\<store>, in the store's order. A store that does not
    // exist yet is empty.
    virtual Result<std::vector<DerCertificate>> list(const std::string& store) = 0;

    // Adds `certificate` to LocalMachine\<store>; an identical certificate already there is
    // left alone (already_present) and nothing is written.
    virtual Result<Added> add(const std::string& store, const DerCertificate& certificate) = 0;

    // Deletes the certificate of LocalMachine\<store> that is byte-identical to `certificate`.
    virtual Result<Removed> remove(const std::string& store, const DerCertificate& certificate) = 0;
};

// The stores of a platform that has none: available() is false and every call fails with a
// sentence saying so.
class NoCertificateStores final : public CertificateStores {
public:
    bool available() const noexcept override { return false; }
    Result<std::vector<DerCertificate>> list(const std::string& store) override;
    Result<Added> add(const std::string& store, const DerCertificate& certificate) override;
    Result<Removed> remove(const std::string& store, const DerCertificate& certificate) override;
};

}  // namespace certheal
