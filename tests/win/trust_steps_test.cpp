// trust_ca and fix_root_store on Windows' own stores and files, under Wine: the portable steps
// (core/certificate_trust.cpp) through certheal's Windows adapters (SystemCertificateStores,
// WinFileReplacer), every result checked with crypt32 directly (tests/win/certstore_support.hpp).

#include <windows.h>

#include <fstream>
#include <iterator>
#include <string>

#include <catch2/catch.hpp>

#include "certstore_checks.hpp"
#include "core/repair/certificate_trust.hpp"
#include "service/platform.hpp"
#include "support/files.hpp"
#include "support/pki.hpp"

using certheal::test::read_text;
using namespace certheal;
using certstore_test::crypt32_store_has;
using certstore_test::only_certificate_of;
using certstore_test::read_certificate_file;
using certstore_test::value_of;

namespace {

bool crypt32_finds(const wchar_t* store, const DerCertificate& certificate) {
    return value_of(crypt32_store_has(store, certificate));
}

// Takes certificates out of the stores again when the test ends, however it ends.
class CleanedUpAtEnd {
public:
    explicit CleanedUpAtEnd(CertificateStores& stores) : stores_(stores) {}
    ~CleanedUpAtEnd() {
        for (const auto& [store, certificate] : added_) (void)stores_.remove(store, certificate);
    }
    CleanedUpAtEnd(const CleanedUpAtEnd&) = delete;
    CleanedUpAtEnd& operator=(const CleanedUpAtEnd&) = delete;
    void watch(std::string store, DerCertificate certificate) { added_.emplace_back(std::move(store), std::move(certificate)); }

private:
    CertificateStores& stores_;
    std::vector<std::pair<std::string, DerCertificate>> added_;
};

}  // namespace

TEST_CASE("trust_ca adds the client CA to LocalMachine\\Root for crypt32, and a second run changes nothing",
          "[wine][certstore][trust]") {
    const test::Pki pki;
    auto adapters = platform::make_adapters();
    CleanedUpAtEnd cleanup(*adapters.certificate_stores);
    const DerCertificate ca = only_certificate_of(pki.ca_cert);
    cleanup.watch("Root", ca);
    REQUIRE_FALSE(crypt32_finds(L"Root", ca));
    const TrustCaStep step{pki.ca_cert, CertificateStoreTarget{"Root"}};

    const auto preview = value_of(trust_ca(step, *adapters.certificate_stores, *adapters.files, /*apply=*/false));
    CHECK(preview.missing.size() == 1);
    CHECK_FALSE(crypt32_finds(L"Root", ca));  // looking changes nothing

    const auto first = value_of(trust_ca(step, *adapters.certificate_stores, *adapters.files, true));
    CHECK(first.changed);
    CHECK(first.target == "LocalMachine\\Root");
    CHECK(crypt32_finds(L"Root", ca));

    const auto second = value_of(trust_ca(step, *adapters.certificate_stores, *adapters.files, true));
    CHECK_FALSE(second.changed);
    CHECK(second.present.size() == 1);
}

TEST_CASE("trust_ca appends the CA to a PEM bundle through ReplaceFileW and keeps its bytes",
          "[wine][trust]") {
    const test::Pki pki;
    const test::TempDir dir;
    const std::string original = "# nginx client CAs\r\n" + read_text(pki.other_ca_cert);
    const auto bundle = dir.write("client-ca.pem", original);
    auto adapters = platform::make_adapters();
    const TrustCaStep step{pki.ca_cert, PemBundleTarget{bundle}};

    const auto first = value_of(trust_ca(step, *adapters.certificate_stores, *adapters.files, true));
    CHECK(first.changed);
    const std::string updated = read_text(bundle);
    CHECK(updated.substr(0, original.size()) == original);
    CHECK(updated.substr(original.size()) == read_text(pki.ca_cert));  // the original ends with a line break
    // No temporary file is left beside the bundle.
    CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()) == 1);

    const auto second = value_of(trust_ca(step, *adapters.certificate_stores, *adapters.files, true));
    CHECK_FALSE(second.changed);
    CHECK(read_text(bundle) == updated);
}

TEST_CASE("fix_root_store moves a certificate that is not self-signed from Root to CA, then changes nothing",
          "[wine][certstore][trust]") {
    const test::Pki pki;
    auto adapters = platform::make_adapters();
    auto& stores = *adapters.certificate_stores;
    CleanedUpAtEnd cleanup(stores);
    const DerCertificate intermediate = only_certificate_of(pki.intermediate_ca_cert);
    cleanup.watch("Root", intermediate);
    cleanup.watch("CA", intermediate);
    REQUIRE(value_of(stores.add("Root", intermediate)) == CertificateStores::Added::added);

    const auto misplaced = value_of(misplaced_root_certificates(stores));
    REQUIRE(misplaced.size() == 1);
    CHECK(misplaced.front().summary.subject == "CN=certheal test intermediate CA,O=certheal tests");

    const auto moved = value_of(fix_root_store(FixRootStoreStep{"CA"}, stores, true));
    CHECK(moved.changed);
    REQUIRE(moved.moved.size() == 1);
    CHECK_FALSE(crypt32_finds(L"Root", intermediate));
    CHECK(crypt32_finds(L"CA", intermediate));

    const auto again = value_of(fix_root_store(FixRootStoreStep{"CA"}, stores, true));
    CHECK_FALSE(again.changed);
    CHECK(again.moved.empty());
}

TEST_CASE("a LocalMachine\\Root with only the roots Wine copies from the host reports nothing",
          "[wine][certstore][trust]") {
    auto adapters = platform::make_adapters();
    const auto roots = value_of(adapters.certificate_stores->list("Root"));
    CHECK_FALSE(roots.empty());
    const auto misplaced = value_of(misplaced_root_certificates(*adapters.certificate_stores));
    for (const auto& certificate : misplaced) UNSCOPED_INFO(certificate.summary.subject);
    CHECK(misplaced.empty());
}
