#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "core/probe/certificate_info.hpp"
#include "core/repair/preflight.hpp"
#include "support/fakes.hpp"
#include "support/pki.hpp"

using namespace certheal;
using namespace certheal::testing;
using namespace std::chrono_literals;
using certheal::test::Pki;
using certheal::test::TempDir;

namespace {

const Pki& pki() {
    static const Pki shared;
    return shared;
}

std::string read_text(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

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
    config.sites = {site_with("a", pki().expired_client_cert, pki().expired_client_key),
                    site_with("b", pki().expired_client_cert, pki().expired_client_key),  // the same file again
                    site_with("c", pki().not_yet_valid_client_cert, pki().not_yet_valid_client_key),
                    site_with("d", pki().client_cert, pki().client_key)};
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
    const auto in_sync = dir.write("in-sync.pem", read_text(pki().ca_cert));
    const auto out_of_sync = dir.write("out-of-sync.pem", read_text(pki().other_ca_cert));
    Config config;
    config.remediation.steps = {
        Step{StartServiceStep{"W3SVC"}, 1min},
        Step{TrustCaStep{pki().ca_cert, PemBundleTarget{in_sync}}, 1min},
        Step{TrustCaStep{pki().ca_cert, PemBundleTarget{out_of_sync}}, 1min},
        Step{TrustCaStep{pki().ca_cert, PemBundleTarget{dir.path() / "absent.pem"}}, 1min},
        Step{TrustCaStep{pki().ca_cert, CertificateStoreTarget{"Root"}}, 1min},
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
    CHECK(read_text(out_of_sync) == read_text(pki().other_ca_cert));
    CHECK(stores.contents("Root").empty());
}

TEST_CASE("pre-flight checks the trust_ca steps of every stage of a ladder, and leaves store auto to the repair",
          "[preflight][ladder]") {
    TempDir dir;
    const auto out_of_sync = dir.write("out-of-sync.pem", read_text(pki().other_ca_cert));
    Config config;
    config.remediation.stages = {
        RepairStage{"trust", {Step{TrustCaStep{pki().ca_cert, AutoStoreTarget{}}, 1min},
                              Step{TrustCaStep{pki().ca_cert, PemBundleTarget{out_of_sync}}, 1min}}, {}, std::nullopt},
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
    stores.put("Root", to_der(*load_certificates(pki().ca_cert).value().front()));
    stores.put("Root", to_der(*load_certificates(pki().intermediate_ca_cert).value().front()));
    const auto findings = check_root_store(stores);
    REQUIRE(findings.size() == 1);
    CHECK(findings[0].pointer.empty());
    CHECK(format_finding(findings[0]).rfind("(host): warning: LocalMachine\\Root holds CN=certheal test intermediate CA", 0) == 0);

    FakeCertificateStores none(/*available=*/false);
    CHECK(check_root_store(none).empty());
}
