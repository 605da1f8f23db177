// The ladder's Windows trust steps decided portably: which store trust_ca "auto" picks for each
// trust mode and binding, add_intermediates, and set_schannel keeping what it found.

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "core/repair/host_trust_steps.hpp"
#include "support/fakes.hpp"
#include "support/files.hpp"
#include "support/pki.hpp"
#include "support/shared_pki.hpp"

using certheal::test::read_text;
using namespace certheal;
using namespace certheal::test;
using certheal::test::Pki;

namespace {

// The issuing (intermediate) CA and its root in one file, as admins hand a chain around.
std::filesystem::path chain_file() {
    static const auto chain = shared_pki().write("chain.pem", read_text(shared_pki().intermediate_ca_cert) + read_text(shared_pki().ca_cert));
    return chain;
}

BindingTrust machine_trust() {
    return BindingTrust{0, "Root", "neither a binding store nor ClientAuthIssuer holds certificates", false, "0.0.0.0:443"};
}

BindingTrust exclusive_ca_trust() {
    return BindingTrust{2, "ClientAuthIssuer", "ClientAuthIssuer holds certificates and the binding names no Ctl Store",
                        false, "0.0.0.0:443"};
}

std::vector<std::string> stores_of(const std::vector<StorePlacement>& placements) {
    std::vector<std::string> stores;
    for (const auto& placement : placements) stores.push_back(placement.store);
    return stores;
}

SiteConfig site(const std::string& name) {
    SiteConfig config;
    config.name = name;
    return config;
}

}  // namespace

TEST_CASE("trust_ca auto picks the store Schannel trusts for each trust mode and binding", "[trust][auto]") {
    struct Row {
        std::uint32_t mode;
        std::string issuer_store;
        bool from_binding;
        bool self_signed;
        std::vector<std::string> stores;
    };
    const auto row = GENERATE(values<Row>({
        {0, "Root", false, true, {"Root"}},
        {0, "Root", false, false, {"CA"}},
        {0, "ClientAuthIssuer", false, true, {"Root"}},  // machine trust: the issuer list store alone cures nothing
        {0, "PartnerCAs", true, true, {"Root", "PartnerCAs"}},
        {0, "PartnerCAs", true, false, {"CA"}},
        {1, "ClientAuthIssuer", false, true, {"ClientAuthIssuer"}},
        {1, "ClientAuthIssuer", false, false, {"CA"}},
        {2, "ClientAuthIssuer", false, true, {"ClientAuthIssuer"}},
        {2, "ClientAuthIssuer", false, false, {"ClientAuthIssuer"}},
        {2, "PartnerCAs", true, false, {"PartnerCAs"}},
        {2, "Root", false, true, {"Root"}},
        {2, "Root", false, false, {"CA"}},  // never an intermediate into Root (KB 2802568)
        {7, "Root", false, true, {"Root"}},
    }));
    CAPTURE(row.mode, row.issuer_store, row.from_binding, row.self_signed);
    const BindingTrust binding{row.mode, row.issuer_store, "why", row.from_binding, "0.0.0.0:443"};
    const auto placements = choose_trust_stores(binding, row.self_signed);
    CHECK(stores_of(placements) == row.stores);
    for (const auto& placement : placements) CHECK_FALSE(placement.why.empty());
}

TEST_CASE("trust_ca auto says why it chose a store, naming the trust mode and where the store comes from",
          "[trust][auto]") {
    const auto exclusive = choose_trust_stores(exclusive_ca_trust(), true);
    REQUIRE(exclusive.size() == 1);
    CHECK(exclusive[0].why ==
          "ClientAuthTrustMode is 2 (exclusive CA trust): Schannel trusts only the certificates in "
          "LocalMachine\\ClientAuthIssuer (ClientAuthIssuer holds certificates and the binding names no Ctl Store), "
          "where a root or an intermediate CA is a trust anchor");
    const auto machine = choose_trust_stores(machine_trust(), true);
    REQUIRE(machine.size() == 1);
    CHECK(machine[0].why == "ClientAuthTrustMode is 0 (machine trust): Schannel accepts a chain that ends in a root of "
                            "LocalMachine\\Root");
}

TEST_CASE("trust_ca auto adds the CA to ClientAuthIssuer under exclusive CA trust and to Root under machine trust",
          "[trust][auto]") {
    FakeCertificateStores stores;
    const TrustCaStep step{shared_pki().ca_cert, AutoStoreTarget{}};

    FakeBindingTrustSource exclusive(exclusive_ca_trust());
    auto report = trust_ca_auto(step, {site("intranet")}, &exclusive, stores, /*apply=*/true);
    REQUIRE(report.ok());
    CHECK(report.value().changed);
    CHECK(stores.contents("ClientAuthIssuer") == std::vector<DerCertificate>{der_of(shared_pki().ca_cert)});
    CHECK(stores.contents("Root").empty());
    REQUIRE(report.value().sites.size() == 1);
    CHECK(report.value().sites[0].placements.at(0).placement.store == "ClientAuthIssuer");

    FakeBindingTrustSource machine(machine_trust());
    report = trust_ca_auto(step, {site("intranet")}, &machine, stores, /*apply=*/true);
    REQUIRE(report.ok());
    CHECK(stores.contents("Root") == std::vector<DerCertificate>{der_of(shared_pki().ca_cert)});

    // Run again: already there, nothing written.
    report = trust_ca_auto(step, {site("intranet")}, &machine, stores, /*apply=*/true);
    REQUIRE(report.ok());
    CHECK_FALSE(report.value().changed);
    CHECK(report.value().stores.at(0).present.size() == 1);
}

TEST_CASE("trust_ca auto takes each site's own binding and adds a certificate to a store once", "[trust][auto]") {
    FakeCertificateStores stores;
    FakeBindingTrustSource bindings(machine_trust());
    bindings.set_for("partners", BindingTrust{2, "PartnerCAs", "the Ctl Store Name of partners:443", true, "partners:443"});
    auto report = trust_ca_auto(TrustCaStep{chain_file(), AutoStoreTarget{}},
                                {site("intranet"), site("partners"), site("extranet")}, &bindings, stores, true);
    REQUIRE(report.ok());
    CHECK(bindings.asked() == std::vector<std::string>{"intranet", "partners", "extranet"});
    CHECK(stores.contents("CA") == std::vector<DerCertificate>{der_of(shared_pki().intermediate_ca_cert)});
    CHECK(stores.contents("Root") == std::vector<DerCertificate>{der_of(shared_pki().ca_cert)});
    CHECK(stores.contents("PartnerCAs").size() == 2);
    CHECK(report.value().stores.size() == 3);
}

TEST_CASE("trust_ca auto without apply only lists, and fails with a sentence where no diagnosis is available",
          "[trust][auto]") {
    FakeCertificateStores stores;
    FakeBindingTrustSource exclusive(exclusive_ca_trust());
    auto report = trust_ca_auto(TrustCaStep{shared_pki().ca_cert, AutoStoreTarget{}}, {site("intranet")}, &exclusive, stores,
                                /*apply=*/false);
    REQUIRE(report.ok());
    CHECK(report.value().stores.at(0).missing.size() == 1);
    CHECK(stores.contents("ClientAuthIssuer").empty());

    auto none = trust_ca_auto(TrustCaStep{shared_pki().ca_cert, AutoStoreTarget{}}, {site("intranet")}, nullptr, stores, true);
    REQUIRE_FALSE(none.ok());
    CHECK_THAT(none.error().message, Catch::Contains("the host trust diagnosis is not available here"));

    exclusive.fail("intranet", Failure{std::make_error_code(std::errc::permission_denied), "Access is denied."});
    auto failed = trust_ca_auto(TrustCaStep{shared_pki().ca_cert, AutoStoreTarget{}}, {site("intranet")}, &exclusive, stores,
                                true);
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.error().message ==
          "for site intranet, certheal could not read which store Schannel trusts: Access is denied");
}

TEST_CASE("add_intermediates puts only the CA certificates that are not self-signed into CA, once", "[trust]") {
    FakeCertificateStores stores;
    const AddIntermediatesStep step{chain_file()};
    auto first = add_intermediates(step, stores, /*apply=*/true);
    REQUIRE(first.ok());
    CHECK(first.value().store.changed);
    CHECK(stores.contents("CA") == std::vector<DerCertificate>{der_of(shared_pki().intermediate_ca_cert)});
    CHECK(stores.contents("Root").empty());
    REQUIRE(first.value().not_added.size() == 1);
    CHECK(first.value().not_added[0].subject == "CN=certheal test CA,O=certheal tests");

    auto again = add_intermediates(step, stores, /*apply=*/true);
    REQUIRE(again.ok());
    CHECK_FALSE(again.value().store.changed);
    CHECK(again.value().store.present.size() == 1);
    CHECK(stores.contents("CA").size() == 1);

    FakeCertificateStores untouched;
    auto looked = add_intermediates(step, untouched, /*apply=*/false);
    REQUIRE(looked.ok());
    CHECK(looked.value().store.missing.size() == 1);
    CHECK(untouched.contents("CA").empty());

    FakeCertificateStores unread;
    auto roots_only = add_intermediates(AddIntermediatesStep{shared_pki().ca_cert}, unread, true);
    REQUIRE(roots_only.ok());
    CHECK(roots_only.value().store.missing.empty());
    CHECK(unread.calls().empty());  // nothing to add: the store is not even read
}

TEST_CASE("set_schannel writes what differs, reads it back and keeps what it found for the undo", "[schannel]") {
    FakeSchannelSettings settings;
    settings.put_number("ClientAuthTrustMode", 0);
    auto report = set_schannel(SetSchannelStep{2, false}, settings, /*apply=*/true);
    REQUIRE(report.ok());
    CHECK(report.value().changed);
    CHECK(settings.number("ClientAuthTrustMode") == 2u);
    CHECK(settings.number("SendTrustedIssuerList") == 0u);
    const auto& values = report.value().values;
    REQUIRE(values.size() == 2);
    CHECK(values[0].before.number == 0u);
    CHECK(values[0].after->number == 2u);
    CHECK(values[0].undo == "It was 0: to undo, set the REG_DWORD ClientAuthTrustMode under "
                            "HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL back to 0.");
    CHECK_FALSE(values[1].before.present);
    CHECK_THAT(values[1].undo, Catch::StartsWith("It was absent (Windows then uses its default): to undo, delete"));

    // Already as wanted: read, never written.
    FakeSchannelSettings same;
    same.put_number("ClientAuthTrustMode", 2);
    auto unchanged = set_schannel(SetSchannelStep{2, std::nullopt}, same, true);
    REQUIRE(unchanged.ok());
    CHECK_FALSE(unchanged.value().changed);
    CHECK(same.calls() == std::vector<std::string>{"read ClientAuthTrustMode"});
}

TEST_CASE("set_schannel without apply writes nothing; a value of the wrong type is replaced and named", "[schannel]") {
    FakeSchannelSettings settings;
    settings.put("ClientAuthTrustMode", RegistryDword{true, std::nullopt, "REG_SZ"});
    auto looked = set_schannel(SetSchannelStep{2, std::nullopt}, settings, /*apply=*/false);
    REQUIRE(looked.ok());
    CHECK(looked.value().values.at(0).changed);
    CHECK(settings.calls() == std::vector<std::string>{"read ClientAuthTrustMode"});
    CHECK(registry_value_text(looked.value().values.at(0).before) == "REG_SZ (Windows ignores it)");

    auto written = set_schannel(SetSchannelStep{2, std::nullopt}, settings, /*apply=*/true);
    REQUIRE(written.ok());
    CHECK(settings.number("ClientAuthTrustMode") == 2u);
}

TEST_CASE("set_schannel fails with a sentence when a write fails or does not stick", "[schannel]") {
    FakeSchannelSettings failing;
    failing.fail_next_write(Failure{std::make_error_code(std::errc::permission_denied), "Access is denied."});
    auto refused = set_schannel(SetSchannelStep{1, std::nullopt}, failing, true);
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.error().message, Catch::StartsWith("certheal could not set ClientAuthTrustMode under HKLM\\SYSTEM"
                                                          "\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL "
                                                          "to 1: Access is denied"));

    FakeSchannelSettings stubborn;
    stubborn.put_number("ClientAuthTrustMode", 0);
    stubborn.ignore_writes(true);
    auto lost = set_schannel(SetSchannelStep{2, std::nullopt}, stubborn, true);
    REQUIRE_FALSE(lost.ok());
    CHECK_THAT(lost.error().message, Catch::Contains("but it reads back as 0"));
}
