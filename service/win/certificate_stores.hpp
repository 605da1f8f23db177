#pragma once
// CertificateStores on crypt32's LocalMachine system stores (CERT_STORE_PROV_SYSTEM_W with
// CERT_SYSTEM_STORE_LOCAL_MACHINE): the stores certlm.msc shows and IIS and Schannel read.
//
// Every call opens the store, does its work and closes the store again, so a change is
// written before the call returns and the next process (check-config, the service, a repair
// step) sees it. Writing needs an elevated process or LocalSystem.
//
// Missing stores. list() and remove() open with CERT_STORE_OPEN_EXISTING_FLAG, so a store
// name that does not exist is never created by looking at it: it lists as empty and removes
// nothing. add() creates the store when it does not exist yet, as `certutil -addstore` does:
// the configuration only lets an administrator name the standard stores (Root, CA,
// ClientAuthIssuer, My, TrustedPeople, TrustedPublisher, AuthRoot, Disallowed), so a typo
// cannot get here, and a standard store can be missing (ClientAuthIssuer arrived with
// Windows Server 2012; a fresh Wine prefix has none of them until something opens Root).
//
// Matching. A certificate is the same when its DER bytes are identical: add() relies on
// CERT_STORE_ADD_NEW (crypt32 finds an existing copy by its SHA-1 hash, CRYPT_E_EXISTS),
// remove() finds candidates by SHA-1 hash and then compares the bytes.
//
// A LocalMachine system store on Windows is a collection of physical stores (the registry,
// Group Policy, Enterprise): list() shows all of them, add() writes to the registry one, and
// remove() deletes every copy it is shown (Group Policy puts its own back when policy is
// next applied).
//
// Under Wine 8 (checked in tests/win/certificate_stores_test.cpp and certstore-wine.sh, and
// in Wine's dlls/crypt32): a store is only the registry key
// HKLM\SOFTWARE\Microsoft\SystemCertificates\<store>, kept in the prefix's system.reg, so
// what one process adds the next one sees, also after the wineserver restarts. Every process that opens Root first
// copies the host's trusted roots (/etc/ssl/certs) and five Microsoft roots into it as
// volatile keys (and creates CA, My and Trust on the way): removing one of those only lasts
// until the next process opens Root, so tests use throwaway CAs. Changes are written when
// the store is closed (or committed), not when they are made.

#include <string>
#include <vector>

#include "core/model/certificate_stores.hpp"

namespace certheal::win {

class SystemCertificateStores final : public CertificateStores {
public:
    bool available() const noexcept override { return true; }

    // Read-only (CERT_STORE_READONLY_FLAG): listing never needs, or takes, write access.
    Result<std::vector<DerCertificate>> list(const std::string& store) override;

    // Bytes that are not one DER-encoded X.509 certificate are a Failure, and nothing is
    // opened or written.
    Result<Added> add(const std::string& store, const DerCertificate& certificate) override;

    // Removes every copy the store shows (one per physical store at most).
    Result<Removed> remove(const std::string& store, const DerCertificate& certificate) override;
};

}  // namespace certheal::win
