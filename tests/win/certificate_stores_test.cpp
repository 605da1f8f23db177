// SystemCertificateStores against Wine's crypt32 and its LocalMachine system stores. Every
// result is checked with an independent crypt32 lookup (tests/win/certstore_support.hpp).
// Each test makes its own throwaway PKI, so no two tests share a certificate, and removes
// what it added. Never the host's roots that Wine copies into Root: each process that opens
// Root copies them in again, so removing one would not last.

#include <windows.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "certstore_checks.hpp"
#include "service/platform.hpp"
#include "service/win/certificate_stores.hpp"
#include "support/pki.hpp"

using certheal::CertificateStores;
using certheal::DerCertificate;
using certheal::Result;
using certheal::win::SystemCertificateStores;
using certstore_test::crypt32_store_has;
using certstore_test::only_certificate_of;
using certstore_test::read_certificate_file;
using certstore_test::value_of;
using certstore_test::store_key_exists;

namespace Catch {
template <>
struct StringMaker<CertificateStores::Added> {
    static std::string convert(CertificateStores::Added added) {
        return added == CertificateStores::Added::added ? "added" : "already_present";
    }
};
template <>
struct StringMaker<CertificateStores::Removed> {
    static std::string convert(CertificateStores::Removed removed) {
        return removed == CertificateStores::Removed::removed ? "removed" : "not_present";
    }
};
}  // namespace Catch

namespace {

bool crypt32_finds(const wchar_t* store, const DerCertificate& certificate) {
    return value_of(crypt32_store_has(store, certificate));
}

std::size_t copies_of(const std::vector<DerCertificate>& certificates, const DerCertificate& certificate) {
    return static_cast<std::size_t>(std::count(certificates.begin(), certificates.end(), certificate));
}

// A store name no other test and no earlier run uses.
std::string unused_store_name(const char* prefix) {
    std::random_device random;
    return prefix + std::to_string(random()) + std::to_string(random());
}

// Takes a certificate out of a store again when the test ends, however it ends.
class RemovedAtEnd {
public:
    RemovedAtEnd(CertificateStores& stores, std::string store, DerCertificate certificate)
        : stores_(stores), store_(std::move(store)), certificate_(std::move(certificate)) {}
    ~RemovedAtEnd() { (void)stores_.remove(store_, certificate_); }
    RemovedAtEnd(const RemovedAtEnd&) = delete;
    RemovedAtEnd& operator=(const RemovedAtEnd&) = delete;

private:
    CertificateStores& stores_;
    std::string store_;
    DerCertificate certificate_;
};

// Deletes a store's registry key (and so the store) when the test ends.
class StoreDeletedAtEnd {
public:
    explicit StoreDeletedAtEnd(std::wstring store) : store_(std::move(store)) {}
    ~StoreDeletedAtEnd() {
        const std::wstring path = L"SOFTWARE\\Microsoft\\SystemCertificates\\" + store_;
        ::RegDeleteTreeW(HKEY_LOCAL_MACHINE, path.c_str());
    }
    StoreDeletedAtEnd(const StoreDeletedAtEnd&) = delete;
    StoreDeletedAtEnd& operator=(const StoreDeletedAtEnd&) = delete;

private:
    std::wstring store_;
};

}  // namespace

TEST_CASE("the Windows adapters include the LocalMachine certificate stores", "[wine][certstore]") {
    const auto adapters = certheal::platform::make_adapters();
    REQUIRE(adapters.certificate_stores != nullptr);
    CHECK(adapters.certificate_stores->available());
}

TEST_CASE("a CA certificate added to Root is there once, for crypt32 and for list", "[wine][certstore]") {
    const certheal::test::Pki pki;
    const DerCertificate ca = only_certificate_of(pki.ca_cert);
    SystemCertificateStores stores;
    RemovedAtEnd cleanup(stores, "Root", ca);
    REQUIRE_FALSE(crypt32_finds(L"Root", ca));

    CHECK(value_of(stores.add("Root", ca)) == CertificateStores::Added::added);
    CHECK(crypt32_finds(L"Root", ca));

    CHECK(value_of(stores.add("Root", ca)) == CertificateStores::Added::already_present);
    CHECK(copies_of(value_of(stores.list("Root")), ca) == 1);
}

TEST_CASE("a certificate issued by the CA is added to the CA store and to no other", "[wine][certstore]") {
    const certheal::test::Pki pki;
    const DerCertificate issued = only_certificate_of(pki.client_cert);
    SystemCertificateStores stores;
    RemovedAtEnd cleanup(stores, "CA", issued);

    CHECK(value_of(stores.add("CA", issued)) == CertificateStores::Added::added);
    CHECK(crypt32_finds(L"CA", issued));
    CHECK(copies_of(value_of(stores.list("CA")), issued) == 1);
    CHECK_FALSE(crypt32_finds(L"Root", issued));
    CHECK(copies_of(value_of(stores.list("Root")), issued) == 0);
}

TEST_CASE("a removed certificate is gone for crypt32, and removing it again finds nothing", "[wine][certstore]") {
    const certheal::test::Pki pki;
    const DerCertificate ca = only_certificate_of(pki.ca_cert);
    const DerCertificate other_ca = only_certificate_of(pki.other_ca_cert);
    SystemCertificateStores stores;
    RemovedAtEnd cleanup(stores, "Root", ca);
    RemovedAtEnd other_cleanup(stores, "Root", other_ca);
    REQUIRE(value_of(stores.add("Root", ca)) == CertificateStores::Added::added);
    REQUIRE(value_of(stores.add("Root", other_ca)) == CertificateStores::Added::added);

    CHECK(value_of(stores.remove("Root", ca)) == CertificateStores::Removed::removed);
    CHECK_FALSE(crypt32_finds(L"Root", ca));
    CHECK(copies_of(value_of(stores.list("Root")), ca) == 0);
    CHECK(crypt32_finds(L"Root", other_ca));  // only that certificate went

    CHECK(value_of(stores.remove("Root", ca)) == CertificateStores::Removed::not_present);
}

TEST_CASE("a store that does not exist lists as empty, removes nothing, and is not created", "[wine][certstore]") {
    const certheal::test::Pki pki;
    const DerCertificate ca = only_certificate_of(pki.ca_cert);
    const std::string store = unused_store_name("CerthealMissing");
    const std::wstring wide_store(store.begin(), store.end());
    StoreDeletedAtEnd cleanup(wide_store);  // in case the adapter did create it
    SystemCertificateStores stores;
    REQUIRE_FALSE(store_key_exists(wide_store));

    CHECK(value_of(stores.list(store)).empty());
    CHECK(value_of(stores.remove(store, ca)) == CertificateStores::Removed::not_present);
    CHECK_FALSE(store_key_exists(wide_store));
}

TEST_CASE("add creates a store that does not exist yet, and crypt32 finds the certificate in it", "[wine][certstore]") {
    const certheal::test::Pki pki;
    const DerCertificate ca = only_certificate_of(pki.ca_cert);
    const std::string store = unused_store_name("CerthealNew");
    const std::wstring wide_store(store.begin(), store.end());
    StoreDeletedAtEnd cleanup(wide_store);
    SystemCertificateStores stores;
    REQUIRE_FALSE(store_key_exists(wide_store));

    CHECK(value_of(stores.add(store, ca)) == CertificateStores::Added::added);
    CHECK(store_key_exists(wide_store));
    CHECK(crypt32_finds(wide_store.c_str(), ca));
    CHECK(value_of(stores.list(store)) == std::vector<DerCertificate>{ca});
}

TEST_CASE("bytes that are not a certificate are refused with a sentence, and nothing is written", "[wine][certstore]") {
    const certheal::test::Pki pki;
    const DerCertificate garbage = only_certificate_of(pki.garbage_cert);  // valid base64, not a certificate
    SystemCertificateStores stores;
    const auto root_before = value_of(stores.list("Root"));

    const auto added = stores.add("Root", garbage);
    REQUIRE_FALSE(added.ok());
    CHECK_THAT(added.error().message, Catch::StartsWith("certheal could not add a certificate to the "
                                                        "LocalMachine\\Root certificate store") &&
                                          Catch::Contains("not one DER-encoded X.509 certificate"));
    CHECK(added.error().code.category() == std::system_category());
    CHECK(added.error().code.value() != 0);
    CHECK(value_of(stores.list("Root")) == root_before);

    const auto removed = stores.remove("Root", garbage);
    REQUIRE_FALSE(removed.ok());
    CHECK_THAT(removed.error().message, Catch::Contains("not one DER-encoded X.509 certificate"));

    // Refused before any store is opened: a missing store is not created by a bad add either.
    const std::string missing = unused_store_name("CerthealGarbage");
    const std::wstring wide_missing(missing.begin(), missing.end());
    StoreDeletedAtEnd cleanup(wide_missing);
    CHECK_FALSE(stores.add(missing, garbage).ok());
    CHECK_FALSE(store_key_exists(wide_missing));
    CHECK_FALSE(stores.add("Root", DerCertificate{}).ok());
}

TEST_CASE("a store name that is not one word is refused before any store is opened", "[wine][certstore]") {
    const certheal::test::Pki pki;
    const DerCertificate ca = only_certificate_of(pki.ca_cert);
    SystemCertificateStores stores;
    for (const std::string name : {"", "Root\\Certificates", "Root/Certificates"}) {
        INFO("store name: \"" << name << "\"");
        const auto added = stores.add(name, ca);
        REQUIRE_FALSE(added.ok());
        CHECK_THAT(added.error().message, Catch::Contains("single word such as Root or CA"));
        CHECK(added.error().code == std::error_code(ERROR_INVALID_NAME, std::system_category()));
        CHECK_FALSE(stores.list(name).ok());
        CHECK_FALSE(stores.remove(name, ca).ok());
    }
    CHECK_FALSE(crypt32_finds(L"Root", ca));
}
