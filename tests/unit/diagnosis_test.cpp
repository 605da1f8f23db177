#include <catch2/catch.hpp>

#include <functional>
#include <map>

#include "core/probe/certificate_info.hpp"
#include "core/repair/diagnosis.hpp"
#include "support/fakes.hpp"
#include "support/pki.hpp"

using namespace certheal;
using namespace certheal::test;

namespace {

// --- certificates and a host, as facts -------------------------------------------------------

CertificateFacts certificate(const std::string& subject, const std::string& issuer, const std::string& sha1,
                             std::size_t name_bytes = 60) {
    CertificateFacts facts;
    facts.subject = subject;
    facts.issuer = issuer;
    facts.sha1 = sha1;
    facts.sha256 = sha1 + sha1;
    facts.not_after = "2030-01-01 00:00:00Z";
    facts.self_signed = subject == issuer;
    facts.is_ca = true;
    facts.subject_name_bytes = name_bytes;
    return facts;
}

const CertificateFacts kRoot = certificate("CN=Contoso Root CA", "CN=Contoso Root CA", "ROOT");
const CertificateFacts kIssuing = certificate("CN=Contoso Issuing CA", "CN=Contoso Root CA", "ISSUING");
const CertificateFacts kPartner = certificate("CN=Partner Root CA", "CN=Partner Root CA", "PARTNER");
const CertificateFacts kLeafOfIssuing = [] {
    auto leaf = certificate("CN=certheal probe", "CN=Contoso Issuing CA", "LEAF2");
    leaf.is_ca = false;
    return leaf;
}();
const CertificateFacts kLeaf = [] {
    auto leaf = certificate("CN=certheal probe", "CN=Contoso Root CA", "LEAF");
    leaf.is_ca = false;
    return leaf;
}();

SslBinding sni_binding(const std::string& host = "intranet.contoso.com", std::uint16_t port = 443) {
    SslBinding binding;
    binding.kind = SslBinding::Kind::hostname_port;
    binding.address = host;
    binding.port = port;
    binding.endpoint = host + ":" + std::to_string(port);
    binding.source = "registry";
    binding.flags = SslBinding::kNegotiateClientCert;
    binding.cert_check_mode = SslBinding::kNoRevocationCheck;
    return binding;
}

SslBinding ip_binding(const std::string& address, std::uint16_t port = 443) {
    SslBinding binding = sni_binding();
    binding.kind = SslBinding::Kind::ip_port;
    binding.address = address;
    binding.port = port;
    binding.endpoint = (address.find(':') != std::string::npos ? "[" + address + "]" : address) + ":" + std::to_string(port);
    binding.flags = 0;
    return binding;
}

ChainFacts chain(std::vector<CertificateFacts> certificates, std::uint32_t status = 0) {
    ChainFacts facts;
    facts.certificates = std::move(certificates);
    facts.error_status = status;
    return facts;
}

// A host as the table rows change it: the stores, the mode, the binding, the chains; facts()
// derives the rest as gather_host_trust does.
struct Scenario {
    std::uint32_t mode = 0;
    bool send_issuer_list = false;
    std::uint32_t os_build = 20348;
    bool tls13 = false;
    std::vector<SchannelFacts::IgnoredValue> ignored;
    std::map<std::string, std::vector<CertificateFacts>> stores{
        {"Root", {kRoot}}, {"CA", {}}, {"ClientAuthIssuer", {kPartner}}};
    std::optional<SslBinding> binding = sni_binding();
    std::optional<SslBinding> shadowed;
    bool client_certificate = true;
    std::optional<ChainFacts> machine = chain({kLeaf, kRoot});
    std::optional<ChainFacts> exclusive;  // derived from the stores when unset

    HostTrustFacts facts() const {
        HostTrustFacts host;
        host.schannel.trust_mode = mode;
        host.schannel.trust_mode_set = mode != 0;
        host.schannel.send_issuer_list = send_issuer_list;
        host.schannel.os_build = os_build;
        host.schannel.tls13_enabled = tls13;
        host.schannel.tls13_why = tls13 ? "Protocols\\TLS 1.3\\Server\\Enabled is 1" : "off";
        host.schannel.ignored_values = ignored;
        for (const auto& [name, certificates] : stores) host.stores.push_back({name, certificates, std::nullopt});
        SiteTrustFacts site;
        site.site = "intranet";
        site.url = "https://intranet.contoso.com/health";
        site.host = "intranet.contoso.com";
        site.binding = binding;
        site.shadowed_sni = shadowed;
        site.requires_client_certificate = true;
        // The issuer store, as Schannel picks it.
        const auto holds_some = [&](const std::string& name) {
            auto found = stores.find(name);
            return found != stores.end() && !found->second.empty();
        };
        if (binding && !binding->ctl_store_name.empty() && holds_some(binding->ctl_store_name)) {
            site.issuer_store = binding->ctl_store_name;
            site.issuer_store_from_binding = true;
        } else if (holds_some("ClientAuthIssuer")) {
            site.issuer_store = "ClientAuthIssuer";
        } else {
            site.issuer_store = "Root";
        }
        site.issuer_store_why = "picked by the test";
        for (const auto& certificate : stores.at(site.issuer_store)) site.issuer_list_bytes += 2 + certificate.subject_name_bytes;
        site.issuer_list_names = stores.at(site.issuer_store).size();
        site.issuer_list_sent = send_issuer_list;
        if (client_certificate) {
            site.client_certificate = kLeaf;
            site.machine_chain = machine;
            if (mode == 1 || mode == 2) {
                if (exclusive) {
                    site.exclusive_chain = exclusive;
                } else {
                    // What crypt32 builds with the issuer store as the only roots: trusted when the
                    // chain's root is held there.
                    auto built = machine ? *machine : chain({kLeaf});
                    const auto& anchors = stores.at(site.issuer_store);
                    const bool root_held = std::any_of(anchors.begin(), anchors.end(), [&](const CertificateFacts& c) {
                        return !built.certificates.empty() && c.sha1 == built.certificates.back().sha1;
                    });
                    built.error_status &= ~chain_status::untrusted_root;
                    if (!root_held && (built.error_status & chain_status::partial_chain) == 0) {
                        built.error_status |= chain_status::untrusted_root;
                    }
                    site.exclusive_chain = built;
                }
            }
        } else {
            site.client_certificate_problem = "no client certificate is configured for this site";
        }
        host.sites.push_back(site);
        return host;
    }
};

struct Row {
    const char* description;
    std::function<void(Scenario&)> change;
    TrustVerdict verdict;
    TrustCause cause;
    std::vector<TrustCause> also = {};
};

std::vector<TrustCause> causes_of(const SiteDiagnosis& diagnosis) {
    std::vector<TrustCause> causes;
    for (const auto& finding : diagnosis.findings) causes.push_back(finding.cause);
    return causes;
}

std::vector<CertificateFacts> many_partner_cas(std::size_t count, std::size_t name_bytes) {
    std::vector<CertificateFacts> cas;
    for (std::size_t index = 0; index < count; ++index) {
        const std::string name = "CN=Partner " + std::to_string(index);
        cas.push_back(certificate(name, name, "P" + std::to_string(index), name_bytes));
    }
    return cas;
}

}  // namespace

TEST_CASE("the diagnosis names the verdict and the cause Schannel would have for each host", "[diagnosis]") {
    const std::vector<Row> rows = {
        {"mode 0, the root in Root only: accepted", [](Scenario&) {}, TrustVerdict::accepted, TrustCause::none_found},
        {"mode 0, the root in ClientAuthIssuer only: the machine does not trust it",
         [](Scenario& s) {
             s.stores["Root"] = {};
             s.stores["ClientAuthIssuer"] = {kPartner, kRoot};
             s.machine = chain({kLeaf, kRoot}, chain_status::untrusted_root);
         },
         TrustVerdict::rejected, TrustCause::ca_not_trusted},
        {"mode 0, the root only in ClientAuthIssuer, where the machine's engine does not even find it",
         [](Scenario& s) {
             s.stores["Root"] = {};
             s.stores["ClientAuthIssuer"] = {kPartner, kRoot};
             s.machine = chain({kLeaf}, chain_status::partial_chain);
         },
         TrustVerdict::rejected, TrustCause::ca_not_trusted},
        {"mode 2, an intermediate held only in ClientAuthIssuer is a trust anchor there",
         [](Scenario& s) {
             s.mode = 2;
             s.stores["ClientAuthIssuer"] = {kPartner, kIssuing};
             s.machine = chain({kLeafOfIssuing}, chain_status::partial_chain);
             s.exclusive = chain({kLeafOfIssuing, kIssuing}, chain_status::partial_chain);
         },
         TrustVerdict::accepted, TrustCause::none_found},
        {"mode 1, an intermediate held only in ClientAuthIssuer: no root there either",
         [](Scenario& s) {
             s.mode = 1;
             s.stores["ClientAuthIssuer"] = {kPartner};
             s.machine = chain({kLeafOfIssuing}, chain_status::partial_chain);
         },
         TrustVerdict::rejected, TrustCause::intermediate_missing},
        {"mode 0, the root in Root and ClientAuthIssuer: accepted",
         [](Scenario& s) { s.stores["ClientAuthIssuer"] = {kPartner, kRoot}; }, TrustVerdict::accepted,
         TrustCause::none_found},
        {"mode 1, the root in Root only: ClientAuthIssuer is the only trust",
         [](Scenario& s) { s.mode = 1; }, TrustVerdict::rejected, TrustCause::issuer_missing_from_binding_store},
        {"mode 1, the root in ClientAuthIssuer only: accepted although Root lacks it",
         [](Scenario& s) {
             s.mode = 1;
             s.stores["Root"] = {};
             s.stores["ClientAuthIssuer"] = {kPartner, kRoot};
             s.machine = chain({kLeaf, kRoot}, chain_status::untrusted_root);
         },
         TrustVerdict::accepted, TrustCause::none_found},
        {"mode 1, the root in both stores: accepted",
         [](Scenario& s) {
             s.mode = 1;
             s.stores["ClientAuthIssuer"] = {kPartner, kRoot};
         },
         TrustVerdict::accepted, TrustCause::none_found},
        {"mode 2, the root in Root only", [](Scenario& s) { s.mode = 2; }, TrustVerdict::rejected,
         TrustCause::issuer_missing_from_binding_store},
        {"mode 2, the root in ClientAuthIssuer only: accepted",
         [](Scenario& s) {
             s.mode = 2;
             s.stores["Root"] = {};
             s.stores["ClientAuthIssuer"] = {kPartner, kRoot};
         },
         TrustVerdict::accepted, TrustCause::none_found},
        {"mode 2 accepts the issuing intermediate held in ClientAuthIssuer, even where the engine did not",
         [](Scenario& s) {
             s.mode = 2;
             s.stores["ClientAuthIssuer"] = {kPartner, kIssuing};
             s.machine = chain({kLeaf, kIssuing, kRoot});
             s.exclusive = chain({kLeaf, kIssuing, kRoot}, chain_status::untrusted_root);
         },
         TrustVerdict::accepted, TrustCause::none_found},
        {"mode 1 does not take an intermediate for the root",
         [](Scenario& s) {
             s.mode = 1;
             s.stores["ClientAuthIssuer"] = {kPartner, kIssuing};
             s.machine = chain({kLeaf, kIssuing, kRoot});
         },
         TrustVerdict::rejected, TrustCause::binding_store_misplaced, {TrustCause::issuer_missing_from_binding_store}},
        {"mode 0 with a binding whose Ctl Store lacks the issuer",
         [](Scenario& s) {
             s.stores["Partners"] = {kPartner};
             s.binding->ctl_store_name = "Partners";
         },
         TrustVerdict::rejected, TrustCause::issuer_missing_from_binding_store},
        {"mode 0 with a binding whose Ctl Store is ClientAuthIssuer holding the root: accepted",
         [](Scenario& s) {
             s.stores["ClientAuthIssuer"] = {kRoot};
             s.binding->ctl_store_name = "ClientAuthIssuer";
         },
         TrustVerdict::accepted, TrustCause::none_found},
        {"an empty Ctl Store falls back to ClientAuthIssuer, which is only a hint list in mode 0",
         [](Scenario& s) {
             s.stores["Empty"] = {};
             s.binding->ctl_store_name = "Empty";
         },
         TrustVerdict::accepted, TrustCause::none_found},
        {"a missing intermediate: the chain cannot be built",
         [](Scenario& s) { s.machine = chain({kLeafOfIssuing}, chain_status::partial_chain); }, TrustVerdict::rejected,
         TrustCause::intermediate_missing},
        {"a missing intermediate in mode 2 is still a missing intermediate",
         [](Scenario& s) {
             s.mode = 2;
             s.machine = chain({kLeafOfIssuing}, chain_status::partial_chain);
         },
         TrustVerdict::rejected, TrustCause::intermediate_missing},
        {"a certificate that is not self-signed in Root",
         [](Scenario& s) { s.stores["Root"] = {kRoot, kIssuing}; }, TrustVerdict::rejected,
         TrustCause::root_store_misplaced},
        {"mode 2 tolerates a certificate that is not self-signed in Root",
         [](Scenario& s) {
             s.mode = 2;
             s.stores["Root"] = {kRoot, kIssuing};
             s.stores["ClientAuthIssuer"] = {kRoot};
         },
         TrustVerdict::accepted, TrustCause::none_found},
        {"an intermediate in the binding's store in mode 0",
         [](Scenario& s) {
             s.stores["ClientAuthIssuer"] = {kRoot, kIssuing};
             s.binding->ctl_store_name = "ClientAuthIssuer";
         },
         TrustVerdict::rejected, TrustCause::binding_store_misplaced},
        {"an issuer list over 16 KB that Schannel sends",
         [](Scenario& s) {
             s.send_issuer_list = true;
             s.stores["ClientAuthIssuer"] = many_partner_cas(200, 100);
         },
         TrustVerdict::rejected, TrustCause::issuer_list_too_large},
        {"an issuer list over 16 KB that is not sent does no harm",
         [](Scenario& s) { s.stores["ClientAuthIssuer"] = many_partner_cas(200, 100); }, TrustVerdict::accepted,
         TrustCause::none_found},
        {"on Windows Server 2012 an issuer list over 16 KB breaks even when it is not sent",
         [](Scenario& s) {
             s.os_build = 9200;
             s.stores["ClientAuthIssuer"] = many_partner_cas(200, 100);
         },
         TrustVerdict::rejected, TrustCause::issuer_list_too_large},
        {"an issuer list of exactly 16384 bytes still goes",
         [](Scenario& s) {
             s.send_issuer_list = true;
             s.stores["ClientAuthIssuer"] = many_partner_cas(128, 126);  // 128 * (2 + 126) = 16384
         },
         TrustVerdict::accepted, TrustCause::none_found},
        {"a misspelt Schannel value",
         [](Scenario& s) { s.ignored = {{"SendTrusterIssuerList", "SendTrustedIssuerList", "its name is misspelt"}}; },
         TrustVerdict::accepted, TrustCause::schannel_value_misspelt},
        {"an IP binding shadows the site's SNI binding",
         [](Scenario& s) {
             s.shadowed = s.binding;
             s.binding = ip_binding("10.0.0.5");
             s.binding->flags = SslBinding::kNegotiateClientCert;
         },
         TrustVerdict::accepted, TrustCause::ip_binding_shadows_sni},
        {"TLS 1.3 on and the binding does not negotiate the certificate",
         [](Scenario& s) {
             s.tls13 = true;
             s.binding->flags = 0;
         },
         TrustVerdict::accepted, TrustCause::tls13_without_negotiation},
        {"TLS 1.3 on and the binding negotiates the certificate", [](Scenario& s) { s.tls13 = true; },
         TrustVerdict::accepted, TrustCause::none_found},
        {"TLS 1.3 on, no negotiation, but TLS 1.3 disabled on the binding",
         [](Scenario& s) {
             s.tls13 = true;
             s.binding->flags = SslBinding::kDisableTls13;
         },
         TrustVerdict::accepted, TrustCause::none_found},
        {"online revocation checking that this host cannot complete",
         [](Scenario& s) {
             s.binding->cert_check_mode = 0;
             s.machine = chain({kLeaf, kRoot}, chain_status::revocation_status_unknown | chain_status::offline_revocation);
         },
         TrustVerdict::rejected, TrustCause::revocation_check_online},
        {"revocation unknown is no cause when the binding does not check it",
         [](Scenario& s) { s.machine = chain({kLeaf, kRoot}, chain_status::revocation_status_unknown); },
         TrustVerdict::accepted, TrustCause::none_found},
        {"a leftover Ctl Identifier", [](Scenario& s) { s.binding->ctl_identifier = "IIS6 trust list"; },
         TrustVerdict::rejected, TrustCause::ctl_identifier_leftover},
        {"no client certificate: nothing to judge", [](Scenario& s) { s.client_certificate = false; },
         TrustVerdict::unknown, TrustCause::none_found},
        {"no binding for the site: the chain alone decides",
         [](Scenario& s) { s.binding.reset(); }, TrustVerdict::accepted, TrustCause::none_found},
        {"an expired certificate is refused, but no host setting causes it",
         [](Scenario& s) { s.machine = chain({kLeaf, kRoot}, chain_status::not_time_valid); }, TrustVerdict::rejected,
         TrustCause::none_found},
        {"what breaks every certificate comes before this chain's own cause",
         [](Scenario& s) {
             s.stores["Root"] = {kIssuing};
             s.machine = chain({kLeaf, kRoot}, chain_status::untrusted_root);
         },
         TrustVerdict::rejected, TrustCause::root_store_misplaced, {TrustCause::ca_not_trusted}},
    };
    for (const auto& row : rows) {
        SECTION(row.description) {
            Scenario scenario;
            row.change(scenario);
            const auto host = scenario.facts();
            const auto diagnosis = diagnose_site(host, host.sites.front());
            INFO(diagnosis.verdict_reason);
            for (const auto& finding : diagnosis.findings) INFO(std::string(to_string(finding.cause)) + ": " + finding.sentence);
            CHECK(diagnosis.verdict == row.verdict);
            CHECK(diagnosis.cause() == row.cause);
            auto expected = row.also;
            if (row.cause != TrustCause::none_found) expected.insert(expected.begin(), row.cause);
            CHECK(causes_of(diagnosis) == expected);
            for (const auto& finding : diagnosis.findings) {
                CHECK_FALSE(finding.sentence.empty());
                CHECK_FALSE(finding.fix.empty());
                CHECK(finding.sentence.back() == '.');
            }
        }
    }
}

TEST_CASE("every cause has its stable name and reads back from it", "[diagnosis]") {
    CHECK(to_string(TrustCause::issuer_missing_from_binding_store) == "issuer_missing_from_binding_store");
    CHECK(to_string(TrustCause::tls13_without_negotiation) == "tls13_without_negotiation");
    for (const auto cause : kAllTrustCauses) CHECK(trust_cause_from_string(to_string(cause)) == cause);
    CHECK_FALSE(trust_cause_from_string("CA_NOT_TRUSTED").has_value());
}

TEST_CASE("a cause names the store, the binding and the fix in its sentence", "[diagnosis]") {
    Scenario scenario;
    scenario.mode = 2;
    const auto host = scenario.facts();
    const auto diagnosis = diagnose_site(host, host.sites.front());
    REQUIRE(diagnosis.cause() == TrustCause::issuer_missing_from_binding_store);
    const auto& finding = diagnosis.findings.front();
    CHECK_THAT(finding.sentence, Catch::Contains("ClientAuthTrustMode is 2 (exclusive CA trust)"));
    CHECK_THAT(finding.sentence, Catch::Contains("LocalMachine\\ClientAuthIssuer"));
    CHECK_THAT(finding.sentence, Catch::Contains("CN=Contoso Root CA"));
    CHECK_THAT(finding.fix, Catch::Contains("\"store\": \"ClientAuthIssuer\""));
}

TEST_CASE("Windows reads the Schannel values by exact name and as REG_DWORD only", "[diagnosis]") {
    SchannelRegistry registry;
    registry.os_build = 20348;
    registry.values = {{"clientauthtrustmode", "REG_DWORD", 2, ""},
                       {"SendTrusterIssuerList", "REG_DWORD", 1, ""},
                       {"EventLogging", "REG_DWORD", 1, ""}};
    auto facts = read_schannel(registry);
    CHECK(facts.trust_mode == 2);
    CHECK(facts.trust_mode_set);
    CHECK_FALSE(facts.send_issuer_list);  // off by default since Windows Server 2012
    CHECK_FALSE(facts.send_issuer_list_set);
    REQUIRE(facts.ignored_values.size() == 1);
    CHECK(facts.ignored_values.front().name == "SendTrusterIssuerList");
    CHECK(facts.ignored_values.front().meant == "SendTrustedIssuerList");
    CHECK(facts.tls13_enabled);  // the default of Server 2022

    registry.values = {{"ClientAuthTrustMode", "REG_SZ", std::nullopt, "2"}, {"SendTrustedIssuerList", "REG_DWORD", 1, ""}};
    registry.os_build = 17763;
    facts = read_schannel(registry);
    CHECK(facts.trust_mode == 0);
    CHECK_FALSE(facts.trust_mode_set);
    CHECK(facts.send_issuer_list);
    REQUIRE(facts.ignored_values.size() == 1);
    CHECK_THAT(facts.ignored_values.front().why, Catch::Contains("REG_SZ"));
    CHECK_FALSE(facts.tls13_enabled);

    registry.values = {{"ClientAuthTrustMode", "REG_DWORD", 7, ""}};
    facts = read_schannel(registry);
    CHECK(facts.trust_mode == 0);
    REQUIRE(facts.ignored_values.size() == 1);

    registry.values = {};
    registry.os_build = 7601;  // Windows Server 2008 R2 sent the list by default
    CHECK(read_schannel(registry).send_issuer_list);

    registry.os_build = 20348;
    registry.tls13_server_disabled_by_default = 1;
    registry.tls13_server_enabled = 1;
    CHECK_FALSE(read_schannel(registry).tls13_enabled);
    registry.tls13_server_disabled_by_default.reset();
    registry.tls13_server_enabled = 0;
    CHECK_FALSE(read_schannel(registry).tls13_enabled);
    registry.os_build = 19043;
    registry.tls13_server_enabled = 1;
    CHECK(read_schannel(registry).tls13_enabled);
}

TEST_CASE("a value name close to one Schannel reads is a misspelling of it", "[diagnosis]") {
    CHECK(misspelling_of("SendTrusterIssuerList") == "SendTrustedIssuerList");
    CHECK(misspelling_of("SendTrustedIssuers") == "SendTrustedIssuerList");
    CHECK(misspelling_of("ClientAuthTrustMod") == "ClientAuthTrustMode");
    CHECK(misspelling_of("ClientAuthTurstMode") == "ClientAuthTrustMode");
    CHECK_FALSE(misspelling_of("SENDTRUSTEDISSUERLIST").has_value());
    CHECK_FALSE(misspelling_of("EventLogging").has_value());
    CHECK_FALSE(misspelling_of("CertificateMappingMethods").has_value());
    CHECK_FALSE(misspelling_of("IssuerCacheSize").has_value());
    CHECK_FALSE(misspelling_of(std::string(10000, 'x')).has_value());
}

TEST_CASE("http.sys gives a connection the binding of its address before the SNI binding", "[diagnosis]") {
    const auto sni = sni_binding();
    const auto exact = ip_binding("10.0.0.5");
    const auto wildcard = ip_binding("0.0.0.0");
    const auto wildcard6 = ip_binding("::");
    SslBinding central = ip_binding("0.0.0.0");
    central.kind = SslBinding::Kind::central_store;
    const auto other_port = ip_binding("10.0.0.5", 8443);

    auto choice = choose_binding({wildcard, sni, exact}, "intranet.contoso.com", 443, {"10.0.0.5"});
    REQUIRE(choice.binding);
    CHECK(choice.binding->endpoint == "10.0.0.5:443");
    REQUIRE(choice.shadowed_sni);
    CHECK(choice.shadowed_sni->endpoint == "intranet.contoso.com:443");

    choice = choose_binding({wildcard, sni, exact}, "INTRANET.contoso.com", 443, {"10.0.0.6"});
    REQUIRE(choice.binding);
    CHECK(choice.binding->kind == SslBinding::Kind::hostname_port);
    CHECK_FALSE(choice.shadowed_sni);

    choice = choose_binding({wildcard, central}, "intranet.contoso.com", 443, {"10.0.0.6"});
    CHECK(choice.binding->kind == SslBinding::Kind::central_store);

    choice = choose_binding({wildcard6, wildcard}, "intranet.contoso.com", 443, {"10.0.0.6"});
    CHECK(choice.binding->endpoint == "0.0.0.0:443");
    choice = choose_binding({wildcard, wildcard6}, "intranet.contoso.com", 443, {"fd00::5"});
    CHECK(choice.binding->endpoint == "[::]:443");

    choice = choose_binding({other_port}, "intranet.contoso.com", 443, {"10.0.0.5"});
    CHECK_FALSE(choice.binding);
}

TEST_CASE("the fingerprint ignores store order and changes with a certificate or the trust mode", "[diagnosis]") {
    Scenario scenario;
    scenario.stores["Root"] = {kRoot, kPartner};
    const auto before = host_trust_fingerprint(scenario.facts());
    CHECK(before.value.size() == 64);

    scenario.stores["Root"] = {kPartner, kRoot};
    CHECK(host_trust_fingerprint(scenario.facts()).value == before.value);

    scenario.stores["ClientAuthIssuer"] = {kPartner, kRoot};
    const auto added = host_trust_fingerprint(scenario.facts());
    CHECK(added.value != before.value);
    CHECK(changed_parts(before, added) == std::vector<std::string>{"stores.ClientAuthIssuer"});

    scenario.mode = 2;
    scenario.binding->flags = 0;
    const auto moded = host_trust_fingerprint(scenario.facts());
    CHECK(changed_parts(added, moded) == std::vector<std::string>{"trust_mode", "bindings"});
    CHECK(moded.parts.at("stores").at("Root").at("certificates") == 2);
}

TEST_CASE("the facts of a real certificate say whether it is self-signed, a CA and how long its name is",
          "[diagnosis]") {
    const test::Pki pki;
    auto der_of = [](const std::filesystem::path& pem) {
        auto loaded = load_certificates(pem);
        REQUIRE(loaded.ok());
        return to_der(*loaded.value().front());
    };
    const auto ca = certificate_facts(der_of(pki.ca_cert));
    REQUIRE(ca);
    CHECK(ca->self_signed);
    CHECK(ca->is_ca);
    CHECK(ca->subject == "CN=certheal test CA,O=certheal tests");
    CHECK(ca->sha1.size() == 40);
    CHECK(ca->subject_name_bytes > 20);
    const auto intermediate = certificate_facts(der_of(pki.intermediate_ca_cert));
    REQUIRE(intermediate);
    CHECK_FALSE(intermediate->self_signed);
    CHECK(intermediate->is_ca);
    const auto look_alike = certificate_facts(der_of(pki.look_alike_root_cert));
    REQUIRE(look_alike);
    CHECK_FALSE(look_alike->self_signed);
    CHECK_FALSE(certificate_facts("not a certificate").has_value());
}


TEST_CASE("gathering reads the binding's store, picks the issuer store and builds the chains Schannel would",
          "[diagnosis]") {
    const test::Pki pki;
    auto der_of = [](const std::filesystem::path& pem) {
        auto loaded = load_certificates(pem);
        REQUIRE(loaded.ok());
        return to_der(*loaded.value().front());
    };
    const auto ca = der_of(pki.ca_cert);
    const auto leaf = der_of(pki.client_cert);
    FakeCertificateStores stores;
    stores.put("Root", ca);
    stores.put("Partners", der_of(pki.other_ca_cert));
    FakeHostTrustInspector inspector;
    inspector.registry.os_build = 20348;
    inspector.registry.values = {{"ClientAuthTrustMode", "REG_DWORD", 2, ""}};
    auto binding = sni_binding("intranet.test");
    binding.ctl_store_name = "Partners";
    binding.cert_check_mode = SslBinding::kRevocationCacheOnly;
    binding.revocation_url_retrieval_timeout = 60000;
    inspector.found.bindings = {binding};
    inspector.addresses["127.0.0.1"] = {"127.0.0.1"};
    inspector.chains = [&](const ChainRequest& request) {
        BuiltChain built;
        built.certificates = {request.leaf, ca};
        built.error_status = request.exclusive_store ? chain_status::untrusted_root : 0;
        return built;
    };
    SiteConfig site;
    site.name = "intranet";
    site.url = "https://intranet.test/health";
    site.host = "intranet.test";
    site.connect_to = "127.0.0.1";
    site.tls.client_cert = PemClientCert{pki.client_cert, pki.client_key};
    SiteConfig without_certificate = site;
    without_certificate.name = "portal";
    without_certificate.tls.client_cert.reset();

    const auto facts = gather_host_trust(inspector, stores, {site, without_certificate}, FakeClock::default_start());
    REQUIRE(facts.sites.size() == 2);
    const auto& gathered = facts.sites.front();
    REQUIRE(gathered.binding);
    CHECK(gathered.binding->endpoint == "intranet.test:443");
    CHECK(gathered.addresses == std::vector<std::string>{"127.0.0.1"});
    CHECK(gathered.issuer_store == "Partners");
    CHECK(gathered.issuer_store_from_binding);
    CHECK(gathered.issuer_list_names == 1);
    CHECK(gathered.issuer_list_bytes > 20);
    REQUIRE(facts.store("partners") != nullptr);
    REQUIRE(gathered.client_certificate);
    CHECK(gathered.client_certificate->subject == "CN=certheal-probe,O=certheal tests");
    // Mode 2: the machine's chain and one with Partners as the only trust anchors, CAs accepted;
    // revocation as the binding checks it, its retrieval timeout bounded.
    REQUIRE(inspector.requests.size() == 2);
    CHECK_FALSE(inspector.requests[0].exclusive_store.has_value());
    CHECK(inspector.requests[1].exclusive_store == "Partners");
    CHECK(inspector.requests[1].exclusive_accepts_ca);
    CHECK(inspector.requests[1].revocation == ChainRequest::Revocation::cache_only);
    CHECK(inspector.requests[1].url_retrieval_timeout == std::chrono::milliseconds(15000));
    CHECK(inspector.requests[0].leaf == leaf);

    const auto diagnosis = diagnose_host(facts);
    CHECK(diagnosis.site("intranet")->cause() == TrustCause::issuer_missing_from_binding_store);
    CHECK(diagnosis.site("portal")->verdict == TrustVerdict::unknown);
    CHECK(diagnosis.any_cause());

    const auto line = site_diagnosis_json(diagnosis, *diagnosis.site("intranet"));
    CHECK(line.at("cause") == "issuer_missing_from_binding_store");
    CHECK(line.at("verdict") == "rejected");
    CHECK(line.at("facts").at("trust_mode") == 2);
    CHECK(line.at("facts").at("binding").at("ctl_store_name") == "Partners");
    CHECK(line.at("facts").at("binding").at("revocation") == "cached_only");
    CHECK(line.at("facts").at("issuer_list").at("store") == "Partners");
    CHECK(line.at("fingerprint") == diagnosis.fingerprint.value);
    const auto evidence = host_trust_evidence(diagnosis, "intranet");
    CHECK(evidence.at("binding_store") == "Partners");
    CHECK(evidence.at("trust_mode") == 2);
}

TEST_CASE("a host whose registry cannot be read is diagnosed on Windows' defaults and says so", "[diagnosis]") {
    class BrokenInspector final : public HostTrustInspector {
    public:
        bool available() const noexcept override { return true; }
        Result<SchannelRegistry> schannel() override {
            return Failure{std::make_error_code(std::errc::permission_denied), "access denied"};
        }
        Result<HttpSysBindings> bindings() override {
            return Failure{std::make_error_code(std::errc::permission_denied), "access denied"};
        }
        Result<std::vector<std::string>> addresses_of(const std::string&) override { return std::vector<std::string>{}; }
        Result<BuiltChain> build_chain(const ChainRequest&) override {
            return Failure{std::make_error_code(std::errc::io_error), "crypt32 failed"};
        }
    } inspector;
    FakeCertificateStores stores;
    SiteConfig site;
    site.name = "intranet";
    site.host = "intranet.test";
    const test::Pki pki;
    site.tls.client_cert = PemClientCert{pki.client_cert, pki.client_key};
    const auto diagnosis = diagnose_host(gather_host_trust(inspector, stores, {site}, FakeClock::default_start()));
    CHECK(diagnosis.facts.schannel.error == "access denied");
    CHECK(diagnosis.facts.bindings_error == "access denied");
    CHECK(diagnosis.sites.front().verdict == TrustVerdict::unknown);
    CHECK_THAT(diagnosis.sites.front().verdict_reason, Catch::Contains("crypt32 failed"));
}

// --- a client certificate from the store, and what trust_ca "store": "auto" reads --------------------

namespace {

DerCertificate der_from(const std::filesystem::path& pem) {
    auto loaded = load_certificates(pem);
    REQUIRE(loaded.ok());
    return to_der(*loaded.value().front());
}

// The store as the prober would see it: one certificate (with its key) for every selector.
class StoreWithOneIdentity final : public ClientIdentitySource {
public:
    explicit StoreWithOneIdentity(Result<SharedIdentity> answer) : answer_(std::move(answer)) {}
    bool available() const noexcept override { return true; }
    Result<SharedIdentity> select(const StoreClientCert& wanted) override {
        asked.push_back(wanted.thumbprint.value_or(""));
        return answer_;
    }
    std::vector<std::string> asked;

private:
    Result<SharedIdentity> answer_;
};

SiteConfig intranet_site() {
    SiteConfig site;
    site.name = "intranet";
    site.url = "https://intranet.contoso.com/health";
    site.host = "intranet.contoso.com";
    return site;
}

}  // namespace

TEST_CASE("a client certificate from the store is diagnosed through the client identity port like one from files",
          "[diagnosis][identity]") {
    const test::Pki pki;
    auto identity = load_client_identity(PemClientCert{pki.client_cert, pki.client_key});
    REQUIRE(identity.ok());
    StoreWithOneIdentity identities(SharedIdentity(std::make_shared<const ClientIdentity>(std::move(identity.value()))));
    FakeCertificateStores stores;
    stores.put("Root", der_from(pki.ca_cert));
    FakeHostTrustInspector inspector;
    inspector.found.bindings = {sni_binding()};
    SiteConfig site = intranet_site();
    StoreClientCert selector;
    selector.thumbprint = std::string(40, 'A');
    site.tls.client_cert = selector;

    const auto diagnosis =
        diagnose_host(gather_host_trust(inspector, stores, {site}, FakeClock::default_start(), &identities));
    CHECK(identities.asked == std::vector<std::string>{std::string(40, 'A')});
    const SiteTrustFacts* facts = diagnosis.site_facts("intranet");
    REQUIRE(facts != nullptr);
    REQUIRE(facts->client_certificate);
    CHECK(facts->client_certificate->subject == "CN=certheal-probe,O=certheal tests");
    REQUIRE(inspector.requests.size() == 1);
    CHECK(inspector.requests[0].leaf == der_from(pki.client_cert));
    CHECK(diagnosis.site("intranet")->verdict == TrustVerdict::accepted);

    // Without the port (or when the store has no match) the verdict is unknown, and says why.
    const auto blind = diagnose_host(gather_host_trust(inspector, stores, {site}, FakeClock::default_start()));
    CHECK(blind.site("intranet")->verdict == TrustVerdict::unknown);
    CHECK_THAT(blind.site_facts("intranet")->client_certificate_problem.value_or(""),
               Catch::Contains("LocalMachine\\My"));
    StoreWithOneIdentity empty(Failure{std::make_error_code(std::errc::no_such_file_or_directory),
                                       "no certificate of LocalMachine\\My has thumbprint AAAA"});
    const auto unmatched =
        diagnose_host(gather_host_trust(inspector, stores, {site}, FakeClock::default_start(), &empty));
    CHECK(unmatched.site("intranet")->verdict == TrustVerdict::unknown);
    CHECK_THAT(unmatched.site_facts("intranet")->client_certificate_problem.value_or(""),
               Catch::Contains("no certificate of LocalMachine\\My has thumbprint AAAA"));
}

TEST_CASE("trust_ca auto reads the trust mode and the issuer store of a site's binding as the diagnosis does",
          "[diagnosis][trust][auto]") {
    const test::Pki pki;
    FakeCertificateStores stores;
    FakeHostTrustInspector inspector;
    inspector.found.bindings = {sni_binding()};
    const SiteConfig site = intranet_site();

    // Machine trust, nothing in ClientAuthIssuer: Root.
    auto trust = binding_trust_of(inspector, stores, site, FakeClock::default_start());
    REQUIRE(trust.ok());
    CHECK(trust.value().trust_mode == 0);
    CHECK(trust.value().issuer_store == "Root");
    CHECK_FALSE(trust.value().issuer_store_from_binding);
    CHECK(trust.value().binding == "intranet.contoso.com:443");

    // Exclusive CA trust with a partner CA in ClientAuthIssuer: ClientAuthIssuer.
    inspector.registry.values = {{"ClientAuthTrustMode", "REG_DWORD", 2, ""}};
    stores.put("ClientAuthIssuer", der_from(pki.other_ca_cert));
    trust = binding_trust_of(inspector, stores, site, FakeClock::default_start());
    REQUIRE(trust.ok());
    CHECK(trust.value().trust_mode == 2);
    CHECK(trust.value().issuer_store == "ClientAuthIssuer");
    CHECK(trust.value().issuer_store_why == "ClientAuthIssuer holds certificates and the binding names no Ctl Store");

    // The binding's Ctl Store, once it holds certificates: that store, said to come from the binding.
    auto binding = sni_binding();
    binding.ctl_store_name = "PartnerCAs";
    inspector.found.bindings = {binding};
    stores.put("PartnerCAs", der_from(pki.other_ca_cert));
    trust = binding_trust_of(inspector, stores, site, FakeClock::default_start());
    REQUIRE(trust.ok());
    CHECK(trust.value().issuer_store == "PartnerCAs");
    CHECK(trust.value().issuer_store_from_binding);
    CHECK(trust.value().issuer_store_why == "the Ctl Store Name of the SNI binding intranet.contoso.com:443");
    // Choosing a store builds no chain.
    CHECK(inspector.requests.empty());
}

TEST_CASE("trust_ca auto refuses to guess the store when what decides it cannot be read", "[diagnosis][trust][auto]") {
    FakeCertificateStores stores;
    FakeHostTrustInspector inspector;
    auto binding = sni_binding();
    binding.ctl_store_name = "PartnerCAs";
    inspector.found.bindings = {binding};
    stores.fail_next("list", "PartnerCAs", Failure{std::make_error_code(std::errc::permission_denied), "access denied"});
    auto trust = binding_trust_of(inspector, stores, intranet_site(), FakeClock::default_start());
    REQUIRE_FALSE(trust.ok());
    CHECK_THAT(trust.error().message, Catch::Contains("could not read LocalMachine\\PartnerCAs: access denied"));

    class UnreadableSchannel final : public HostTrustInspector {
    public:
        bool available() const noexcept override { return true; }
        Result<SchannelRegistry> schannel() override {
            return Failure{std::make_error_code(std::errc::permission_denied), "access denied"};
        }
        Result<HttpSysBindings> bindings() override { return HttpSysBindings{}; }
        Result<std::vector<std::string>> addresses_of(const std::string&) override { return std::vector<std::string>{}; }
        Result<BuiltChain> build_chain(const ChainRequest&) override { return BuiltChain{}; }
    } unreadable;
    trust = binding_trust_of(unreadable, stores, intranet_site(), FakeClock::default_start());
    REQUIRE_FALSE(trust.ok());
    CHECK_THAT(trust.error().message, Catch::Contains("could not read the Schannel settings under HKLM\\SYSTEM"));
}
