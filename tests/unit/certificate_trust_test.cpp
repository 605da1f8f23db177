#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "core/repair/certificate_trust.hpp"
#include "support/fakes.hpp"
#include "support/files.hpp"
#include "support/pki.hpp"
#include "support/shared_pki.hpp"

using certheal::test::read_text;
using namespace certheal;
using namespace certheal::test;
using certheal::test::Pki;
using certheal::test::TempDir;

namespace {

TrustCaStep into_bundle(const std::filesystem::path& certificate, const std::filesystem::path& bundle) {
    return TrustCaStep{certificate, PemBundleTarget{bundle}};
}

TrustCaStep into_store(const std::filesystem::path& certificate, const std::string& store) {
    return TrustCaStep{certificate, CertificateStoreTarget{store}};
}

}  // namespace

TEST_CASE("trust_ca appends a missing CA to a bundle and keeps every byte already there", "[trust]") {
    TempDir dir;
    // A bundle with a comment, the other CA, and no final line break: all of it must survive.
    const std::string original = "# client CAs for nginx\n" + read_text(shared_pki().other_ca_cert) + "# end";
    const auto bundle = dir.write("client-ca.pem", original);
    FakeCertificateStores stores;
    RecordingFileReplacer files;

    auto report = trust_ca(into_bundle(shared_pki().ca_cert, bundle), stores, files, /*apply=*/true);
    REQUIRE(report.ok());
    CHECK(report.value().changed);
    REQUIRE(report.value().missing.size() == 1);
    CHECK(report.value().missing.front().subject == "CN=certheal test CA,O=certheal tests");
    CHECK(report.value().missing.front().sha1.size() == 40);
    CHECK(report.value().present.empty());
    CHECK(report.value().target == bundle.string());

    const std::string updated = read_text(bundle);
    CHECK(updated.substr(0, original.size()) == original);
    CHECK(updated.substr(original.size()) == "\n" + read_text(shared_pki().ca_cert));
    CHECK(files.replaced() == std::vector<std::filesystem::path>{bundle});
}

TEST_CASE("trust_ca leaves a bundle that already trusts the CA byte-identical and says nothing changed", "[trust]") {
    TempDir dir;
    const std::string original = read_text(shared_pki().other_ca_cert) + read_text(shared_pki().ca_cert);
    const auto bundle = dir.write("client-ca.pem", original);
    FakeCertificateStores stores;
    RecordingFileReplacer files;

    auto report = trust_ca(into_bundle(shared_pki().ca_cert, bundle), stores, files, /*apply=*/true);
    REQUIRE(report.ok());
    CHECK_FALSE(report.value().changed);
    CHECK(report.value().missing.empty());
    CHECK(report.value().present.size() == 1);
    CHECK(read_text(bundle) == original);
    CHECK(files.replaced().empty());
}

TEST_CASE("trust_ca run twice adds the CA once", "[trust]") {
    TempDir dir;
    const auto bundle = dir.write("client-ca.pem", read_text(shared_pki().other_ca_cert));
    FakeCertificateStores stores;
    RecordingFileReplacer files;
    REQUIRE(trust_ca(into_bundle(shared_pki().ca_cert, bundle), stores, files, true).value().changed);
    const std::string after_first = read_text(bundle);
    auto second = trust_ca(into_bundle(shared_pki().ca_cert, bundle), stores, files, true);
    REQUIRE(second.ok());
    CHECK_FALSE(second.value().changed);
    CHECK(read_text(bundle) == after_first);
}

TEST_CASE("trust_ca takes a DER certificate file and adds it to an empty bundle as PEM", "[trust]") {
    TempDir dir;
    const auto der_file = dir.write("ca.cer", der_of(shared_pki().ca_cert));
    const auto bundle = dir.write("client-ca.pem", "");
    FakeCertificateStores stores;
    RecordingFileReplacer files;
    auto report = trust_ca(into_bundle(der_file, bundle), stores, files, true);
    REQUIRE(report.ok());
    CHECK(report.value().changed);
    CHECK(read_text(bundle) == read_text(shared_pki().ca_cert));
}

TEST_CASE("trust_ca without apply says what it would add and writes nothing", "[trust]") {
    TempDir dir;
    const std::string original = read_text(shared_pki().other_ca_cert);
    const auto bundle = dir.write("client-ca.pem", original);
    FakeCertificateStores stores;
    RecordingFileReplacer files;
    auto report = trust_ca(into_bundle(shared_pki().ca_cert, bundle), stores, files, /*apply=*/false);
    REQUIRE(report.ok());
    CHECK_FALSE(report.value().changed);
    CHECK(report.value().missing.size() == 1);
    CHECK(read_text(bundle) == original);
    CHECK(files.replaced().empty());
}

TEST_CASE("trust_ca refuses a bundle that is not PEM, a damaged one and a missing one, and writes nothing", "[trust]") {
    TempDir dir;
    FakeCertificateStores stores;
    RecordingFileReplacer files;
    struct Row {
        const char* description;
        std::string content;  // empty: the bundle does not exist
        const char* says;
    };
    const Row rows[] = {
        {"a DER file", der_of(shared_pki().other_ca_cert), "is not a PEM file"},
        {"a damaged block after a good one", read_text(shared_pki().other_ca_cert) + read_text(shared_pki().garbage_cert),
         "does not decode after 1 good one"},
        {"no bundle at all", "", "does not exist"},
    };
    for (const auto& row : rows) {
        INFO(row.description);
        const auto bundle = dir.path() / "client-ca.pem";
        std::filesystem::remove(bundle);
        if (!row.content.empty()) dir.write("client-ca.pem", row.content);
        auto report = trust_ca(into_bundle(shared_pki().ca_cert, bundle), stores, files, true);
        REQUIRE_FALSE(report.ok());
        CHECK_THAT(report.error().message, Catch::Contains(row.says));
        CHECK_THAT(report.error().message, Catch::Contains(bundle.string()));
        if (!row.content.empty()) CHECK(read_text(bundle) == row.content);
    }
    CHECK(files.replaced().empty());
}

TEST_CASE("trust_ca with a certificate file that holds no certificate fails before touching the bundle", "[trust]") {
    TempDir dir;
    const std::string original = read_text(shared_pki().other_ca_cert);
    const auto bundle = dir.write("client-ca.pem", original);
    const auto empty = dir.write("empty.pem", "nothing here\n");
    FakeCertificateStores stores;
    RecordingFileReplacer files;
    auto report = trust_ca(into_bundle(empty, bundle), stores, files, true);
    REQUIRE_FALSE(report.ok());
    CHECK_THAT(report.error().message, Catch::Contains("holds no certificate"));
    CHECK(read_text(bundle) == original);
}

TEST_CASE("trust_ca reports a bundle that could not be replaced and leaves it as it was", "[trust]") {
    TempDir dir;
    const std::string original = read_text(shared_pki().other_ca_cert);
    const auto bundle = dir.write("client-ca.pem", original);
    FakeCertificateStores stores;
    RecordingFileReplacer files;
    files.fail_next(Failure{std::make_error_code(std::errc::no_space_on_device), "the disk is full"});
    auto report = trust_ca(into_bundle(shared_pki().ca_cert, bundle), stores, files, true);
    REQUIRE_FALSE(report.ok());
    CHECK(report.error().message == "the disk is full");
    CHECK(read_text(bundle) == original);
}

TEST_CASE("trust_ca adds a missing CA to a certificate store once", "[trust]") {
    FakeCertificateStores stores;
    stores.put("Root", der_of(shared_pki().other_ca_cert));
    RecordingFileReplacer files;

    auto first = trust_ca(into_store(shared_pki().ca_cert, "Root"), stores, files, true);
    REQUIRE(first.ok());
    CHECK(first.value().changed);
    CHECK(first.value().target == "LocalMachine\\Root");
    CHECK(stores.contents("Root") == std::vector<DerCertificate>{der_of(shared_pki().other_ca_cert), der_of(shared_pki().ca_cert)});

    auto second = trust_ca(into_store(shared_pki().ca_cert, "Root"), stores, files, true);
    REQUIRE(second.ok());
    CHECK_FALSE(second.value().changed);
    CHECK(second.value().present.size() == 1);
    CHECK(stores.calls() == std::vector<std::string>{"list Root", "add Root", "list Root"});
}

TEST_CASE("trust_ca without apply only lists the store", "[trust]") {
    FakeCertificateStores stores;
    RecordingFileReplacer files;
    auto report = trust_ca(into_store(shared_pki().ca_cert, "Root"), stores, files, false);
    REQUIRE(report.ok());
    CHECK(report.value().missing.size() == 1);
    CHECK(stores.calls() == std::vector<std::string>{"list Root"});
    CHECK(stores.contents("Root").empty());
}

TEST_CASE("trust_ca passes on a store that cannot be opened or written", "[trust]") {
    FakeCertificateStores stores;
    RecordingFileReplacer files;
    stores.fail_next("list", "Root", Failure{std::make_error_code(std::errc::permission_denied),
                                             "certheal could not open the LocalMachine\\Root certificate store"});
    auto cannot_open = trust_ca(into_store(shared_pki().ca_cert, "Root"), stores, files, true);
    REQUIRE_FALSE(cannot_open.ok());
    CHECK_THAT(cannot_open.error().message, Catch::Contains("could not open"));

    stores.fail_next("add", "Root", Failure{std::make_error_code(std::errc::permission_denied), "access denied"});
    auto cannot_add = trust_ca(into_store(shared_pki().ca_cert, "Root"), stores, files, true);
    REQUIRE_FALSE(cannot_add.ok());
    CHECK(stores.contents("Root").empty());
}

TEST_CASE("the root store check finds certificates that are not self-signed and nothing else", "[trust]") {
    FakeCertificateStores stores;
    stores.put("Root", der_of(shared_pki().ca_cert));
    stores.put("Root", der_of(shared_pki().other_ca_cert));
    stores.put("Root", der_of(shared_pki().intermediate_ca_cert));
    stores.put("Root", der_of(shared_pki().look_alike_root_cert));
    stores.put("Root", der_of(shared_pki().server_cert));
    stores.put("Root", "not a certificate at all");

    auto misplaced = misplaced_root_certificates(stores);
    REQUIRE(misplaced.ok());
    std::vector<std::string> subjects;
    for (const auto& found : misplaced.value()) subjects.push_back(found.summary.subject);
    CHECK(subjects == std::vector<std::string>{"CN=certheal test intermediate CA,O=certheal tests",
                                                "CN=certheal look-alike root,O=certheal tests",
                                                "CN=localhost,O=certheal tests"});
}

TEST_CASE("the root store check says nothing where there are no certificate stores", "[trust]") {
    FakeCertificateStores none(/*available=*/false);
    auto misplaced = misplaced_root_certificates(none);
    REQUIRE(misplaced.ok());
    CHECK(misplaced.value().empty());
    CHECK(none.calls().empty());
}

TEST_CASE("fix_root_store moves each misplaced certificate to CA, and a second run changes nothing", "[trust]") {
    FakeCertificateStores stores;
    stores.put("Root", der_of(shared_pki().ca_cert));
    stores.put("Root", der_of(shared_pki().intermediate_ca_cert));

    auto first = fix_root_store(FixRootStoreStep{"CA"}, stores, true);
    REQUIRE(first.ok());
    CHECK(first.value().changed);
    REQUIRE(first.value().moved.size() == 1);
    CHECK(first.value().moved.front().subject == "CN=certheal test intermediate CA,O=certheal tests");
    CHECK(stores.contents("Root") == std::vector<DerCertificate>{der_of(shared_pki().ca_cert)});
    CHECK(stores.contents("CA") == std::vector<DerCertificate>{der_of(shared_pki().intermediate_ca_cert)});
    // Added first, deleted second: never a moment without the certificate.
    CHECK(stores.calls() == std::vector<std::string>{"list Root", "add CA", "remove Root"});

    auto second = fix_root_store(FixRootStoreStep{"CA"}, stores, true);
    REQUIRE(second.ok());
    CHECK_FALSE(second.value().changed);
    CHECK(second.value().moved.empty());
}

TEST_CASE("fix_root_store never deletes from Root what it could not add to the target", "[trust]") {
    FakeCertificateStores stores;
    stores.put("Root", der_of(shared_pki().intermediate_ca_cert));
    stores.fail_next("add", "CA", Failure{std::make_error_code(std::errc::permission_denied), "access denied"});
    auto report = fix_root_store(FixRootStoreStep{"CA"}, stores, true);
    REQUIRE_FALSE(report.ok());
    CHECK_THAT(report.error().message, Catch::Contains("left CN=certheal test intermediate CA"));
    CHECK(stores.contents("Root").size() == 1);
    CHECK(stores.contents("CA").empty());
}

TEST_CASE("fix_root_store without apply lists what it would move and touches nothing", "[trust]") {
    FakeCertificateStores stores;
    stores.put("Root", der_of(shared_pki().intermediate_ca_cert));
    auto report = fix_root_store(FixRootStoreStep{"CA"}, stores, false);
    REQUIRE(report.ok());
    CHECK(report.value().moved.size() == 1);
    CHECK_FALSE(report.value().changed);
    CHECK(stores.calls() == std::vector<std::string>{"list Root"});
}

TEST_CASE("the misplaced-root sentence names the certificate, the effect and the fix", "[trust]") {
    const CertificateSummary summary{"CN=Contoso Issuing CA", "CN=Contoso Root", "ABCDEF", "", "2030-01-01 00:00:00Z"};
    const auto sentence = misplaced_root_sentence(summary);
    CHECK_THAT(sentence, Catch::Contains("CN=Contoso Issuing CA"));
    CHECK_THAT(sentence, Catch::Contains("ABCDEF"));
    CHECK_THAT(sentence, Catch::Contains("403.16"));
    CHECK_THAT(sentence, Catch::Contains("fix_root_store"));
}
