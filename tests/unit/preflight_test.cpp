#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "core/probe/certificate_info.hpp"
#include "core/repair/preflight.hpp"
#include "support/fakes.hpp"
#include "support/files.hpp"
#include "support/pki.hpp"
#include "support/shared_pki.hpp"
#include "support/software_signer.hpp"

using certheal::test::read_text;
using namespace certheal;
using namespace certheal::test;
using namespace std::chrono_literals;
using certheal::test::Pki;
using certheal::test::TempDir;
using certheal::test::SoftwareSigner;
using certheal::test::software_store_identity;

namespace {

SiteConfig site_with(const std::string& name, const std::filesystem::path& cert, const std::filesystem::path& key) {
    SiteConfig site;
    site.name = name;
    site.url = "https://" + name + ".test/";
    site.tls.client_cert = PemClientCert{cert, key};
    return site;
}

std::string all_of(const std::vector<PreflightFinding>& findings) {
    std::string text;
    for (const auto& finding : findings) text += format_finding(finding) + "\n";
    return text;
}

}  // namespace

TEST_CASE("pre-flight names an expired and a not yet valid client certificate once each, with their dates",
          "[preflight]") {
    Config config;
    config.sites = {site_with("a", shared_pki().expired_client_cert, shared_pki().expired_client_key),
                    site_with("b", shared_pki().expired_client_cert, shared_pki().expired_client_key),  // the same file again
                    site_with("c", shared_pki().not_yet_valid_client_cert, shared_pki().not_yet_valid_client_key),
                    site_with("d", shared_pki().client_cert, shared_pki().client_key)};
    const auto findings = check_client_certificates(config, std::chrono::system_clock::now());
    INFO(all_of(findings));
    REQUIRE(findings.size() == 2);
    CHECK(findings[0].level == PreflightFinding::Level::warning);
    CHECK(findings[0].pointer == "/sites/0/tls/client_cert");
    CHECK_THAT(findings[0].message, Catch::Contains("CN=certheal-probe-expired") && Catch::Contains("has expired") &&
                                        Catch::Contains("valid from ") && Catch::Contains("Renew it"));
    CHECK(findings[1].pointer == "/sites/2/tls/client_cert");
    CHECK_THAT(findings[1].message, Catch::Contains("is not valid yet") && Catch::Contains("clock"));
}

TEST_CASE("pre-flight says whether each trust_ca step's CA is in its bundle or store now", "[preflight]") {
    TempDir dir;
    const auto in_sync = dir.write("in-sync.pem", read_text(shared_pki().ca_cert));
    const auto out_of_sync = dir.write("out-of-sync.pem", read_text(shared_pki().other_ca_cert));
    Config config;
    config.remediation.steps = {
        Step{StartServiceStep{"W3SVC"}, 1min},
        Step{TrustCaStep{shared_pki().ca_cert, PemBundleTarget{in_sync}}, 1min},
        Step{TrustCaStep{shared_pki().ca_cert, PemBundleTarget{out_of_sync}}, 1min},
        Step{TrustCaStep{shared_pki().ca_cert, PemBundleTarget{dir.path() / "absent.pem"}}, 1min},
        Step{TrustCaStep{shared_pki().ca_cert, CertificateStoreTarget{"Root"}}, 1min},
    };
    FakeCertificateStores stores;
    const auto findings = check_trust_ca_steps(config, stores);
    INFO(all_of(findings));
    REQUIRE(findings.size() == 4);
    CHECK(findings[0].level == PreflightFinding::Level::ok);
    CHECK(findings[0].pointer == "/remediation/steps/1/trust_ca");
    CHECK_THAT(findings[0].message, Catch::StartsWith("in sync: CN=certheal test CA"));
    CHECK(findings[1].level == PreflightFinding::Level::warning);
    CHECK_THAT(findings[1].message, Catch::StartsWith("not trusted there: CN=certheal test CA") &&
                                        Catch::Contains("the server will reject certheal's certificate"));
    CHECK_THAT(findings[2].message, Catch::Contains("does not exist") && Catch::Contains("would fail"));
    CHECK_THAT(findings[3].message, Catch::Contains("missing from LocalMachine\\Root"));
    // Looking never writes.
    CHECK(read_text(out_of_sync) == read_text(shared_pki().other_ca_cert));
    CHECK(stores.contents("Root").empty());
}

TEST_CASE("pre-flight checks the trust_ca steps of every stage of a ladder, and leaves store auto to the repair",
          "[preflight][ladder]") {
    TempDir dir;
    const auto out_of_sync = dir.write("out-of-sync.pem", read_text(shared_pki().other_ca_cert));
    Config config;
    config.remediation.stages = {
        RepairStage{"trust", {Step{TrustCaStep{shared_pki().ca_cert, AutoStoreTarget{}}, 1min},
                              Step{TrustCaStep{shared_pki().ca_cert, PemBundleTarget{out_of_sync}}, 1min}}, {}, std::nullopt},
        RepairStage{"restart", {Step{StartServiceStep{"nginx"}, 1min}}, {}, std::nullopt},
    };
    FakeCertificateStores stores;
    const auto findings = check_trust_ca_steps(config, stores);
    INFO(all_of(findings));
    REQUIRE(findings.size() == 1);
    CHECK(findings[0].pointer == "/remediation/stages/0/steps/1/trust_ca");
    CHECK_THAT(findings[0].message, Catch::StartsWith("not trusted there: CN=certheal test CA"));
    CHECK(stores.calls().empty());
}

TEST_CASE("pre-flight names each certificate of LocalMachine\\Root that is not self-signed, and only there",
          "[preflight]") {
    FakeCertificateStores stores;
    stores.put("Root", to_der(*load_certificates(shared_pki().ca_cert).value().front()));
    stores.put("Root", to_der(*load_certificates(shared_pki().intermediate_ca_cert).value().front()));
    const auto findings = check_root_store(stores);
    REQUIRE(findings.size() == 1);
    CHECK(findings[0].pointer.empty());
    CHECK(format_finding(findings[0]).rfind("(host): warning: LocalMachine\\Root holds CN=certheal test intermediate CA", 0) == 0);

    FakeCertificateStores none(/*available=*/false);
    CHECK(check_root_store(none).empty());
}

namespace {

// The store as the probe would see it: one answer for every selector.
class OneAnswerIdentities final : public ClientIdentitySource {
public:
    explicit OneAnswerIdentities(Result<SharedIdentity> answer) : answer_(std::move(answer)) {}
    bool available() const noexcept override { return true; }
    Result<SharedIdentity> select(const StoreClientCert&) override {
        ++asked;
        return answer_;
    }
    int asked = 0;

private:
    Result<SharedIdentity> answer_;
};

Config store_config() {
    Config config;
    StoreClientCert selector;
    selector.issuer = "CN=certheal test CA,O=certheal tests";
    for (const char* name : {"a", "b"}) {
        SiteConfig site;
        site.name = name;
        site.url = std::string("https://") + name + ".test/";
        site.tls.client_cert = selector;  // both share the selector: it is checked once
        config.sites.push_back(site);
    }
    return config;
}

}  // namespace

TEST_CASE("pre-flight says which certificate a store selector takes, where its key lives and what it cannot sign",
          "[preflight][identity]") {
    KeyHome legacy;
    legacy.provider = "the CryptoAPI provider \"Microsoft Enhanced Cryptographic Provider v1.0\"";
    legacy.signs_tls13 = false;
    legacy.limitation = "Its key signs only with PKCS#1 v1.5, so certheal offers TLS 1.2 at most";
    OneAnswerIdentities identities(software_store_identity(
        shared_pki().rsa_client_cert, std::make_shared<SoftwareSigner>(shared_pki().rsa_client_key), legacy));
    const auto findings = check_client_certificates(store_config(), std::chrono::system_clock::now(), &identities);
    INFO(all_of(findings));
    REQUIRE(findings.size() == 1);
    CHECK(identities.asked == 1);
    CHECK(findings[0].pointer == "/sites/0/tls/client_cert");
    CHECK(findings[0].level == PreflightFinding::Level::warning);  // the limitation is worth a warning
    CHECK_THAT(findings[0].message, Catch::Contains("selects CN=certheal-probe-rsa,O=certheal tests (SHA-1 ") &&
                                        Catch::Contains("issued by CN=certheal test CA") &&
                                        Catch::Contains("with its key in the CryptoAPI provider") &&
                                        Catch::Contains("TLS 1.2 at most"));
}

TEST_CASE("pre-flight says why no store certificate fits, and that probes will be client_cert_invalid",
          "[preflight][identity]") {
    OneAnswerIdentities identities(Failure{std::make_error_code(std::errc::no_such_file_or_directory),
                                           "only expired certificates match LocalMachine\\My certificates issued by "
                                           "CN=certheal test CA"});
    const auto findings = check_client_certificates(store_config(), std::chrono::system_clock::now(), &identities);
    INFO(all_of(findings));
    REQUIRE(findings.size() == 1);
    CHECK(findings[0].level == PreflightFinding::Level::warning);
    CHECK_THAT(findings[0].message, Catch::Contains("certheal has no client certificate to present (used by site a") &&
                                        Catch::Contains("only expired certificates match") &&
                                        Catch::Contains("client_cert_invalid"));
    CHECK(check_client_certificates(store_config(), std::chrono::system_clock::now()).empty());  // no source: skipped
}
