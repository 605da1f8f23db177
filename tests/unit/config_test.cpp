#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "core/describe/step_sentences.hpp"
#include "core/probe/tls_contexts.hpp"
#include "core/probe/tls_files.hpp"
#include "core/repair/repair_ladder.hpp"
#include "support/files.hpp"
#include "support/pki.hpp"
#include "support/shared_pki.hpp"

using certheal::test::read_text;
using namespace std::chrono_literals;
using namespace certheal;
using certheal::test::Pki;
using certheal::test::shared_pki;
using certheal::test::ScopedEnv;
using certheal::test::TempDir;
using json = nlohmann::json;

namespace {

const ConfigContext kContext{"/default/state", /*certificate_stores=*/false};

// A config that is valid and references no files, to be broken one key at a time.
json valid_config() {
    return json::parse(R"({
      "service": { "status_listen": "127.0.0.1:9464" },
      "defaults": { "interval": "30s", "timeout": "10s" },
      "sites": [
        { "name": "intranet", "url": "https://intranet.example.com/health" },
        { "name": "extranet", "url": "https://extranet.example.com/" }
      ],
      "remediation": {
        "steps": [
          { "stop_service": "IISADMIN", "with_dependents": true, "timeout": "2m" },
          { "start_service": "W3SVC" },
          { "restore_dependents": true },
          { "verify": { "attempts": 5, "delay": "10s" } }
        ]
      }
    })");
}

// Parses as if the config lived in the test PKI's folder, so relative file names resolve there.
ConfigLoad parse(const std::string& text) {
    return parse_config(text, shared_pki().dir() / "certheal.json", kContext);
}
ConfigLoad parse(const json& document) { return parse(document.dump(2)); }

std::vector<ConfigIssue> errors_of(const ConfigLoad& load) {
    std::vector<ConfigIssue> errors;
    std::copy_if(load.issues.begin(), load.issues.end(), std::back_inserter(errors),
                 [](const ConfigIssue& issue) { return issue.level == ConfigIssue::Level::error; });
    return errors;
}

std::string all_issues(const ConfigLoad& load) {
    std::string text;
    for (const auto& issue : load.issues) text += format_issue(issue) + "\n";
    return text;
}

struct BadValue {
    const char* set_at;     // JSON pointer into valid_config() to overwrite
    const char* value;      // JSON text of the bad value
    const char* reported_at;
    const char* message_part;
};

}  // namespace

TEST_CASE("the valid base config parses without issues", "[config]") {
    const auto load = parse(valid_config());
    INFO(all_issues(load));
    REQUIRE(load.issues.empty());
    REQUIRE(load.config.has_value());
    CHECK(load.config->sites.size() == 2);
    CHECK(load.config->remediation.steps.size() == 4);
}

TEST_CASE("each invalid value is reported at its JSON pointer with the offending value", "[config]") {
    const auto bad = GENERATE(values<BadValue>({
        {"/sites/0/url", R"("http://x")", "/sites/0/url", R"(must be an https URL, got "http://x")"},
        {"/sites/0/url", R"("intranet.example.com")", "/sites/0/url", "must be an https URL"},
        {"/sites/0/url", R"("https:///health")", "/sites/0/url", R"(must include a host name, got "https:///health")"},
        {"/sites/0/url", R"("https://h:99999/")", "/sites/0/url", "invalid port"},
        {"/sites/0/url", R"("https://user:pw@h/")", "/sites/0/url", "must not contain a user name or password"},
        {"/sites/0/url", "42", "/sites/0/url", "must be a string, got an integer 42"},
        {"/defaults/interval", R"("30")", "/defaults/interval", R"(with a unit (ms, s, m, h) such as "30s" or "1m30s", of at most 876000h (a hundred years), got "30")"},
        {"/remediation/cooldown", R"("3000000h")", "/remediation/cooldown", R"(of at most 876000h (a hundred years), got "3000000h")"},
        {"/defaults/interval", R"("0s")", "/defaults/interval", R"(must be longer than zero, got "0s")"},
        {"/defaults/timeout", R"("-5s")", "/defaults/timeout", R"(got "-5s")"},
        {"/sites/0/timeout", "10", "/sites/0/timeout", "must be a duration string"},
        {"/sites/1/interval", R"("soon")", "/sites/1/interval", R"(got "soon")"},
        {"/defaults/failure_threshold", "0", "/defaults/failure_threshold", "must be at least 1, got 0"},
        {"/sites/0/success_threshold", "0", "/sites/0/success_threshold", "must be at least 1, got 0"},
        {"/sites/0/failure_threshold", R"("3")", "/sites/0/failure_threshold", "must be a whole number, got a string \"3\""},
        {"/sites/0/failure_threshold", "2.5", "/sites/0/failure_threshold", "must be a whole number"},
        {"/sites", "[]", "/sites", "must list at least one site"},
        {"/sites", "{}", "/sites", "must be an array of sites"},
        {"/sites/0/bogus", "1", "/sites/0/bogus", "is not a known key here"},
        {"/defaults/name", R"("x")", "/defaults/name", "is not a known key here"},
        {"/bogus", "true", "/bogus", "is not a known key here"},
        {"/service/bogus", "true", "/service/bogus", "is not a known key here"},
        {"/remediation/bogus", "true", "/remediation/bogus", "is not a known key here"},
        {"/remediation/steps/1/bogus", "true", "/remediation/steps/1/bogus", "is not a known key here"},
        {"/sites/0/tls", R"({"client_cert": {"bogus": 1}})", "/sites/0/tls/client_cert/bogus", "is not a known key here"},
        {"/sites/0/tls", R"({"client_cert": {"cert_file": "client.pem"}})", "/sites/0/tls/client_cert", "no key_file"},
        {"/sites/0/tls", R"({"client_cert": {"pfx_file": "client.pfx", "cert_file": "client.pem"}})",
         "/sites/0/tls/client_cert", "not both"},
        {"/sites/0/tls", R"({"client_cert": {"pfx_file": "client.pfx", "password_env": "A", "password_file": "b"}})",
         "/sites/0/tls/client_cert", "either password_env or password_file, not both"},
        {"/sites/0/tls", R"({"client_cert": {"cert_file": "client.pem", "key_file": "client.key", "password_env": "A"}})",
         "/sites/0/tls/client_cert/password_env", "only applies to a pfx_file"},
        {"/sites/0/tls", R"({"verify": "yes"})", "/sites/0/tls/verify", R"(must be true or false, got "yes")"},
        {"/sites/0/tls", R"({"ca_file": "missing-ca.pem"})", "/sites/0/tls/ca_file", "does not exist"},
        {"/sites/0/tls", R"({"ca_file": "garbage.pem"})", "/sites/0/tls/ca_file", "holds no certificate"},
        {"/sites/0/tls", R"({"client_cert": {"cert_file": "garbage.pem", "key_file": "client.key"}})",
         "/sites/0/tls/client_cert/cert_file", "holds no certificate"},
        {"/sites/0/tls", R"({"client_cert": {"cert_file": "client.pem", "key_file": "absent.key"}})",
         "/sites/0/tls/client_cert/key_file", "does not exist"},
        {"/sites/0/tls", R"({"client_cert": {"cert_file": "client.pem", "key_file": "mismatched.key"}})",
         "/sites/0/tls/client_cert", "does not match"},
        {"/sites/0/tls", R"({"client_cert": {"pfx_file": "absent.pfx"}})", "/sites/0/tls/client_cert/pfx_file",
         "does not exist"},
        {"/sites/0/tls", R"({"client_cert": {"pfx_file": "client.pfx", "password_env": "CERTHEAL_TEST_NEVER_SET"}})",
         "/sites/0/tls/client_cert/password_env", "CERTHEAL_TEST_NEVER_SET, which is not set"},
        {"/sites/0/tls", R"({"client_cert": {"pfx_file": "client.pfx", "password_file": "absent.txt"}})",
         "/sites/0/tls/client_cert/password_file", "does not exist"},
        {"/sites/0/tls", R"({"client_cert": {"pfx_file": "client.pfx"}})", "/sites/0/tls/client_cert/pfx_file",
         "wrong password"},
        {"/sites/0/tls", R"({"ca_file": 5})", "/sites/0/tls/ca_file", "must be a string"},
        {"/sites/0/tls", R"("on")", "/sites/0/tls", "must be an object, got a string \"on\""},
        {"/remediation/steps/0", R"({"run": ["iisreset.exe", "/noforce"]})", "/remediation/steps/0/run/0",
         R"(must be the program's absolute path (certheal runs no shell and searches no PATH), got "iisreset.exe")"},
        {"/remediation/steps/0", R"({"run": []})", "/remediation/steps/0/run", "must be a non-empty array"},
        {"/remediation/steps/0", R"({"run": "/usr/sbin/nginx -s reload"})", "/remediation/steps/0/run",
         "must be a non-empty array"},
        {"/remediation/steps/0", R"({"run": ["/bin/true", 5]})", "/remediation/steps/0/run/1", "must be a string"},
        {"/remediation/steps/0", R"({"start_service": "W3SVC", "with_dependents": true})",
         "/remediation/steps/0/with_dependents", "is not a known key here"},
        {"/remediation/steps/0", R"({"stop_service": "A", "start_service": "B"})", "/remediation/steps/0",
         "must have exactly one of run, stop_service, start_service, restore_dependents, verify, trust_ca, fix_root_store, "
         "add_intermediates, set_schannel; found"},
        {"/remediation/steps/0", R"({"timeout": "1s"})", "/remediation/steps/0", "found none"},
        {"/remediation/steps/0", R"({"stop_service": ""})", "/remediation/steps/0/stop_service", "must not be empty"},
        {"/remediation/steps/0", R"({"stop_service": "A", "with_dependents": "yes"})",
         "/remediation/steps/0/with_dependents", "must be true or false"},
        {"/remediation/steps/0", R"({"verify": {"attempts": 0}})", "/remediation/steps/0/verify/attempts",
         "must be between 1 and 1000, got 0"},
        {"/remediation/steps/0", R"({"verify": {"attempts": 2, "tries": 2}})", "/remediation/steps/0/verify/tries",
         "is not a known key here"},
        {"/remediation/steps/0", R"({"verify": {"delay": "1"}})", "/remediation/steps/0/verify/delay", "with a unit"},
        {"/remediation/steps/0", R"({"restore_dependents": false})", "/remediation/steps/0/restore_dependents",
         "must be true, got false"},
        {"/remediation/steps/0", R"("start W3SVC")", "/remediation/steps/0", "must be a step object"},
        {"/remediation/steps/1/timeout", R"("later")", "/remediation/steps/1/timeout", R"(got "later")"},
        {"/remediation/steps", "[]", "/remediation/steps", "is empty while remediation is enabled"},
        {"/remediation/max_attempts", "0", "/remediation/max_attempts", "must be at least 1, got 0"},
        {"/remediation/cooldown", R"("10")", "/remediation/cooldown", "with a unit"},
        {"/remediation/enabled", R"("true")", "/remediation/enabled", "must be true or false"},
        {"/defaults/symptoms", R"(["client_cert_rejected", "flaky"])", "/defaults/symptoms/1", R"(got "flaky")"},
        {"/defaults/symptoms", R"(["healthy"])", "/defaults/symptoms/0", R"(got "healthy")"},
        {"/defaults/symptoms", R"(["revoked"])", "/defaults/symptoms/0",
         R"(must be one of client_cert_rejected, client_cert_invalid, connect_failed, timeout, tls_error, unexpected_status, revocation_unavailable, client_cert_negotiation_unsupported; got "revoked")"},
        {"/sites/0/rejection_pattern", R"("(.*)\\1")", "/sites/0/rejection_pattern", "it uses a back-reference"},
        {"/sites/0/rejection_pattern", R"x("403(?=\\.7)")x", "/sites/0/rejection_pattern",
         "it uses a lookahead ((?= at character 3)"},
        {"/sites/1/symptoms", R"("timeout")", "/sites/1/symptoms", "must be an array of probe classes"},
        {"/sites/0/expect_status", "[200, 700]", "/sites/0/expect_status/1", "must be between 100 and 599, got 700"},
        {"/sites/0/expect_status", "[99]", "/sites/0/expect_status/0", "must be between 100 and 599, got 99"},
        {"/sites/0/expect_status", R"(["200"])", "/sites/0/expect_status/0", "must be a whole number"},
        {"/sites/0/expect_status", "[]", "/sites/0/expect_status", "must be a non-empty array"},
        {"/sites/0/rejection_pattern", R"("403(")", "/sites/0/rejection_pattern",
         R"(must be a regular expression certheal can search (Perl syntax, PCRE2; see docs/classification.md), got "403(": missing closing parenthesis at character 4)"},
        {"/sites/0/connect_to", R"("")", "/sites/0/connect_to", "must not be empty"},
        {"/defaults/connect_to", "1", "/defaults/connect_to", "must be a string"},
        {"/service/status_listen", R"("0.0.0.0:9464")", "/service/status_listen",
         R"(must be host:port on the loopback interface (127.0.0.1, [::1] or localhost) with a port from 1 to 65535, got "0.0.0.0:9464")"},
        {"/service/status_listen", R"("127.0.0.1")", "/service/status_listen", "loopback"},
        {"/service/status_listen", R"("localhost:0")", "/service/status_listen", "loopback"},
        {"/service/status_listen", R"("192.168.1.2:9464")", "/service/status_listen", "loopback"},
        {"/service/allow_insecure_config_acl", "1", "/service/allow_insecure_config_acl", "must be true or false"},
        {"/service/state_dir", R"("")", "/service/state_dir", "must not be empty"},
        {"/sites/1/name", R"("intranet")", "/sites/1/name",
         R"(repeats the name "intranet" of /sites/0; site names must be unique)"},
        {"/sites/1/name", "null", "/sites/1/name", "must be a string, got null"},
        {"/sites/1", R"({"url": "https://a/"})", "/sites/1", R"(needs a "name")"},
        {"/sites/1", R"({"name": "a"})", "/sites/1", R"(needs a "url")"},
        {"/service", "[]", "/service", "must be an object, got an array"},
        {"/service/max_concurrent_probes", "0", "/service/max_concurrent_probes", "must be between 1 and 4096, got 0"},
        {"/service/max_concurrent_probes", "100000", "/service/max_concurrent_probes", "must be between 1 and 4096"},
        {"/service/max_concurrent_probes", R"("64")", "/service/max_concurrent_probes", "must be a whole number"},
        {"/remediation/steps/0", R"({"trust_ca": {"certificate": "ca.pem"}})", "/remediation/steps/0/trust_ca",
         R"(must name where to add the CA: "store")"},
        {"/remediation/steps/0", R"({"trust_ca": {"certificate": "ca.pem", "store": "Root", "bundle": "b.pem"}})",
         "/remediation/steps/0/trust_ca", "not both"},
        {"/remediation/steps/0", R"({"trust_ca": {"bundle": "b.pem"}})", "/remediation/steps/0/trust_ca",
         R"(needs "certificate")"},
        {"/remediation/steps/0", R"({"trust_ca": {"certificate": "absent.pem", "bundle": "b.pem"}})",
         "/remediation/steps/0/trust_ca/certificate", "does not exist"},
        {"/remediation/steps/0", R"({"trust_ca": {"certificate": "garbage.pem", "bundle": "b.pem"}})",
         "/remediation/steps/0/trust_ca/certificate", "holds no certificate"},
        {"/remediation/steps/0", R"({"trust_ca": {"certificate": "ca.pem", "bundle": "b.pem", "bogus": 1}})",
         "/remediation/steps/0/trust_ca/bogus", "is not a known key here"},
        {"/remediation/steps/0", R"({"trust_ca": {"certificate": "ca.pem", "store": "Root"}})",
         "/remediation/steps/0/trust_ca/store",
         R"(trust_ca with "store" applies to Windows certificate stores, and this host has none)"},
        {"/remediation/steps/0", R"({"trust_ca": {"certificate": "ca.pem", "store": "Trusted Roots"}})",
         "/remediation/steps/0/trust_ca/store", "must name a LocalMachine certificate store (Root, CA, ClientAuthIssuer"},
        {"/remediation/steps/0", R"({"trust_ca": "ca.pem"})", "/remediation/steps/0/trust_ca", "must be an object"},
        {"/remediation/steps/0", R"({"fix_root_store": {"move_to": "CA"}})", "/remediation/steps/0/fix_root_store/move_to",
         "fix_root_store applies to Windows certificate stores"},
        {"/remediation/steps/0", R"({"fix_root_store": {}})", "/remediation/steps/0/fix_root_store", R"(needs "move_to")"},
        {"/remediation/steps/0", R"({"trust_ca": {"certificate": "ca.pem", "store": "auto"}})",
         "/remediation/steps/0/trust_ca/store", R"("auto" chooses the Windows certificate store Schannel trusts)"},
        {"/remediation/steps/0", R"({"add_intermediates": {"certificate": "ca.pem"}})",
         "/remediation/steps/0/add_intermediates", "this host has no certificate stores"},
        {"/remediation/steps/0", R"({"set_schannel": {"client_auth_trust_mode": 2}})",
         "/remediation/steps/0/set_schannel", "writes Schannel's settings in the Windows registry, and this host has no "
                                              "Schannel"},
        {"/remediation/verify", R"({"attempts": 0})", "/remediation/verify/attempts", "must be between 1 and 1000, got 0"},
        {"/remediation/verify", R"({"tries": 2})", "/remediation/verify/tries", "is not a known key here"},
        {"/remediation/allow_host_settings", R"("yes")", "/remediation/allow_host_settings", "must be true or false"},
        {"/remediation/stages", "[]", "/remediation", R"(has both "steps" and "stages")"},
    }));
    json document = valid_config();
    document[json::json_pointer(bad.set_at)] = json::parse(bad.value);
    const auto load = parse(document);
    INFO("set " << bad.set_at << " = " << bad.value << "\n" << all_issues(load));

    CHECK_FALSE(load.config.has_value());
    const auto errors = errors_of(load);
    const bool reported = std::any_of(errors.begin(), errors.end(), [&](const ConfigIssue& issue) {
        return issue.pointer == bad.reported_at && issue.message.find(bad.message_part) != std::string::npos;
    });
    CHECK(reported);
}

TEST_CASE("trust_ca and fix_root_store name Windows stores where the host has them", "[config]") {
    const ConfigContext windows{"/default/state", /*certificate_stores=*/true};
    json document = valid_config();
    document["remediation"]["steps"] = json::parse(R"([
        {"trust_ca": {"certificate": "ca.pem", "store": "root"}, "timeout": "30s"},
        {"trust_ca": {"certificate": "ca.pem", "bundle": "client-ca.pem"}},
        {"fix_root_store": {"move_to": "ca"}},
        {"start_service": "W3SVC"}
    ])");
    const auto load = parse_config(document.dump(), shared_pki().dir() / "certheal.json", windows);
    INFO(all_issues(load));
    REQUIRE(load.config.has_value());
    const auto& steps = load.config->remediation.steps;
    REQUIRE(steps.size() == 4);
    const auto& into_store = std::get<TrustCaStep>(steps[0].action);
    CHECK(into_store.certificate == shared_pki().ca_cert);
    CHECK(std::get<CertificateStoreTarget>(into_store.target).store == "Root");  // Windows' own spelling
    CHECK(steps[0].timeout == 30s);
    CHECK(std::get<PemBundleTarget>(std::get<TrustCaStep>(steps[1].action).target).bundle ==
          shared_pki().dir() / "client-ca.pem");
    CHECK(std::get<FixRootStoreStep>(steps[2].action).move_to == "CA");
    CHECK(step_kind(steps[0].action) == "trust_ca");
    CHECK(step_kind(steps[2].action) == "fix_root_store");
    CHECK(describe_step(steps[0]) == "trust_ca " + shared_pki().ca_cert.string() + " into LocalMachine\\Root");
    CHECK(describe_step(steps[2]) ==
          "fix_root_store: move certificates that are not self-signed from LocalMachine\\Root to LocalMachine\\CA");
}

TEST_CASE("a client certificate of the Windows store is read by thumbprint or by selector", "[config][identity]") {
    const ConfigContext windows{"/default/state", /*certificate_stores=*/true};
    json document = valid_config();
    document["sites"][0]["tls"] = json::parse(R"({"client_cert": {"store": "my",
        "thumbprint": "\u200e01 23 45 67 89 ab cd ef 01 23 45 67 89 ab cd ef 01 23 45 67"}})");
    document["defaults"]["tls"] = json::parse(R"({"client_cert": {"store": "My",
        "issuer": "CN=Contoso Issuing CA, DC=contoso, DC=com", "subject": "CN=web01.contoso.com",
        "eku": "clientAuth"}})");
    const auto load = parse_config(document.dump(), shared_pki().dir() / "certheal.json", windows);
    INFO(all_issues(load));
    REQUIRE(load.config.has_value());
    const auto& by_thumbprint = std::get<StoreClientCert>(*load.config->sites[0].tls.client_cert);
    CHECK(by_thumbprint.store == "My");  // Windows' own spelling
    CHECK(by_thumbprint.thumbprint == "0123456789ABCDEF0123456789ABCDEF01234567");
    CHECK_FALSE(by_thumbprint.issuer);
    const auto& by_selector = std::get<StoreClientCert>(*load.config->sites[1].tls.client_cert);  // from defaults
    CHECK(by_selector.issuer == "CN=Contoso Issuing CA, DC=contoso, DC=com");
    CHECK(by_selector.subject == "CN=web01.contoso.com");
    CHECK(by_selector.eku == "clientAuth");
    CHECK_FALSE(by_selector.thumbprint);
}

TEST_CASE("a store client certificate written wrong is an error at its key, and one elsewhere than Windows too",
          "[config][identity]") {
    const ConfigContext windows{"/default/state", /*certificate_stores=*/true};
    const auto error_at = [&](const char* client_cert, const ConfigContext& context) {
        json document = valid_config();
        document["sites"][0]["tls"]["client_cert"] = json::parse(client_cert);
        const auto load = parse_config(document.dump(), shared_pki().dir() / "certheal.json", context);
        CHECK_FALSE(load.config.has_value());
        return all_issues(load);
    };
    const std::string where = "/sites/0/tls/client_cert";
    CHECK_THAT(error_at(R"({"store": "My", "issuer": "CN=Contoso CA"})", kContext),
               Catch::Contains(where + "/store: names a Windows certificate store, and this host has none"));
    CHECK_THAT(error_at(R"({"store": "Personal", "thumbprint": "0123456789abcdef0123456789abcdef01234567"})", windows),
               Catch::Contains(where + "/store: must name a LocalMachine certificate store (") &&
                   Catch::Contains(R"(got "Personal")"));
    CHECK_THAT(error_at(R"({"store": "My", "thumbprint": "0123456789abcdef"})", windows),
               Catch::Contains(where + R"(/thumbprint: must be a SHA-1 thumbprint (40 hexadecimal digits)") &&
                   Catch::Contains(R"(got "0123456789abcdef")"));
    CHECK_THAT(error_at(R"({"store": "My", "issuer": "Contoso Issuing CA"})", windows),
               Catch::Contains(where + "/issuer: must be a distinguished name") &&
                   Catch::Contains(R"(got "Contoso Issuing CA")"));
    CHECK_THAT(error_at(R"({"store": "My", "subject": "CN=web01", "eku": "client"})", windows),
               Catch::Contains(where + R"(/eku: must be an extended key usage such as clientAuth, or a dotted OID, got "client")"));
    CHECK_THAT(error_at(R"({"store": "My", "thumbprint": "0123456789abcdef0123456789abcdef01234567",
                            "issuer": "CN=Contoso CA"})", windows),
               Catch::Contains(where + ": names one certificate by its thumbprint"));
    CHECK_THAT(error_at(R"({"store": "My", "eku": "clientAuth"})", windows),
               Catch::Contains(where + ": must say which certificate of the store"));
    CHECK_THAT(error_at(R"({"issuer": "CN=Contoso CA"})", windows), Catch::Contains(where + ": must name its certificate store"));
    CHECK_THAT(error_at(R"({"store": "My", "issuer": "CN=Contoso CA", "cert_file": "client.pem"})", windows),
               Catch::Contains(where + ": must name either files (cert_file and key_file, or pfx_file) or a certificate "
                                       "of a Windows store"));
    CHECK_THAT(error_at(R"({"store": "My", "issuer": "CN=Contoso CA", "friendly_name": "x"})", windows),
               Catch::Contains(where + "/friendly_name: is not a known key here"));
}

TEST_CASE("fix_root_store refuses Root as its target", "[config]") {
    const ConfigContext windows{"/default/state", /*certificate_stores=*/true};
    json document = valid_config();
    document["remediation"]["steps"] = json::parse(R"([{"fix_root_store": {"move_to": "Root"}}])");
    const auto load = parse_config(document.dump(), shared_pki().dir() / "certheal.json", windows);
    CHECK_FALSE(load.config.has_value());
    CHECK_THAT(all_issues(load), Catch::Contains("/remediation/steps/0/fix_root_store/move_to: must not be Root"));
}

namespace {

// A valid repair ladder (Windows host), to be broken one key at a time.
json ladder_config() {
    json document = valid_config();
    document["remediation"] = json::parse(R"({
        "allow_host_settings": true,
        "verify": { "attempts": 4, "delay": "3s" },
        "stages": [
          { "name": "trust",
            "steps": [
              { "fix_root_store": { "move_to": "CA" } },
              { "add_intermediates": { "certificate": "chain.pem" } },
              { "trust_ca": { "certificate": "ca.pem", "store": "auto" } } ] },
          { "name": "exclusive CA trust",
            "when": { "cause": ["issuer_missing_from_binding_store"] },
            "steps": [ { "set_schannel": { "client_auth_trust_mode": 2, "send_trusted_issuer_list": false } } ] },
          { "name": "restart web service",
            "when": { "class": ["client_cert_rejected", "connect_failed"] },
            "verify": { "attempts": 6, "delay": "20s" },
            "steps": [ { "stop_service": "W3SVC" }, { "start_service": "W3SVC" } ] }
        ]
    })");
    return document;
}

const ConfigContext kWindows{"/default/state", /*certificate_stores=*/true};

void provide_chain_file() {
    static const bool written = [] {
        shared_pki().write("chain.pem", read_text(shared_pki().intermediate_ca_cert) + read_text(shared_pki().ca_cert));
        return true;
    }();
    (void)written;
}

}  // namespace

TEST_CASE("remediation.stages parse into a ladder of named stages with their conditions and verifies",
          "[config][ladder]") {
    provide_chain_file();
    const auto load = parse_config(ladder_config().dump(), shared_pki().dir() / "certheal.json", kWindows);
    INFO(all_issues(load));
    REQUIRE(load.config.has_value());
    CHECK(load.issues.empty());
    const auto& remediation = load.config->remediation;
    CHECK(remediation.steps.empty());
    CHECK(remediation.allow_host_settings);
    CHECK(remediation.verify.attempts == 4);
    CHECK(remediation.verify.delay == 3s);
    REQUIRE(remediation.stages.size() == 3);
    const auto& trust = remediation.stages[0];
    CHECK(trust.name == "trust");
    CHECK(trust.when.empty());
    CHECK_FALSE(trust.verify.has_value());
    REQUIRE(trust.steps.size() == 3);
    CHECK(std::get<AddIntermediatesStep>(trust.steps[1].action).certificate == shared_pki().dir() / "chain.pem");
    CHECK(std::holds_alternative<AutoStoreTarget>(std::get<TrustCaStep>(trust.steps[2].action).target));
    CHECK(describe_step(trust.steps[1]) == "add_intermediates " + (shared_pki().dir() / "chain.pem").string() +
                                               " into LocalMachine\\CA");
    CHECK(describe_step(trust.steps[2]) == "trust_ca " + shared_pki().ca_cert.string() +
                                               " into the store Schannel trusts for each site's binding (auto)");
    const auto& exclusive = remediation.stages[1];
    CHECK(exclusive.when.causes == std::set<TrustCause>{TrustCause::issuer_missing_from_binding_store});
    const auto& schannel = std::get<SetSchannelStep>(exclusive.steps[0].action);
    CHECK(schannel.client_auth_trust_mode == 2u);
    CHECK(schannel.send_trusted_issuer_list == false);
    CHECK(describe_step(exclusive.steps[0]) == "set_schannel ClientAuthTrustMode=2, SendTrustedIssuerList=0");
    const auto& restart = remediation.stages[2];
    CHECK(restart.when.classes == std::set<ProbeClass>{ProbeClass::client_cert_rejected, ProbeClass::connect_failed});
    REQUIRE(restart.verify.has_value());
    CHECK(restart.verify->attempts == 6);
}

TEST_CASE("each error of a ladder is reported at its JSON pointer", "[config][ladder]") {
    provide_chain_file();
    const auto bad = GENERATE(values<BadValue>({
        {"/remediation/stages", "{}", "/remediation/stages", "must be an array of 1 to 16 stages"},
        {"/remediation/stages/0/name", R"("")", "/remediation/stages/0/name", "must not be empty"},
        {"/remediation/stages/2/name", R"("trust")", "/remediation/stages/2/name",
         R"(repeats the name "trust" of /remediation/stages/0; stage names must be unique)"},
        {"/remediation/stages/0", R"({"steps": [{"start_service": "W3SVC"}]})", "/remediation/stages/0",
         R"(needs a "name")"},
        {"/remediation/stages/0", R"({"name": "x"})", "/remediation/stages/0", R"(needs "steps")"},
        {"/remediation/stages/0/steps", "[]", "/remediation/stages/0/steps", "must be a non-empty array of steps"},
        {"/remediation/stages/0/bogus", "1", "/remediation/stages/0/bogus", "is not a known key here"},
        {"/remediation/stages/0/steps/0", R"({"reboot": true})", "/remediation/stages/0/steps/0", "must have exactly one of"},
        {"/remediation/stages/2/when", "{}", "/remediation/stages/2/when", R"(leave "when" out)"},
        {"/remediation/stages/2/when/class", R"(["healthy"])", "/remediation/stages/2/when/class/0",
         R"(must be one of client_cert_rejected, client_cert_invalid)"},
        {"/remediation/stages/2/when/class", "[]", "/remediation/stages/2/when/class", "must be a non-empty array"},
        {"/remediation/stages/1/when/cause", R"(["ca_untrusted"])", "/remediation/stages/1/when/cause/0",
         R"(must be one of ca_not_trusted, issuer_missing_from_binding_store)"},
        {"/remediation/stages/2/when/site", R"(["intranet"])", "/remediation/stages/2/when/site", "is not a known key here"},
        {"/remediation/stages/2/verify", R"({"attempts": "3"})", "/remediation/stages/2/verify/attempts",
         "must be a whole number"},
        {"/remediation/allow_host_settings", "false", "/remediation/stages/1/steps/0/set_schannel",
         R"(certheal refuses it unless "remediation": {"allow_host_settings": true} allows host-wide settings)"},
        {"/remediation/stages/1/steps/0/set_schannel", R"({"client_auth_trust_mode": 3})",
         "/remediation/stages/1/steps/0/set_schannel/client_auth_trust_mode", "must be between 0 and 2, got 3"},
        {"/remediation/stages/1/steps/0/set_schannel", R"({})", "/remediation/stages/1/steps/0/set_schannel",
         R"(must set "client_auth_trust_mode" (0, 1 or 2), "send_trusted_issuer_list" (true or false), or both)"},
        {"/remediation/stages/1/steps/0/set_schannel", R"({"send_trusted_issuer_list": 1})",
         "/remediation/stages/1/steps/0/set_schannel/send_trusted_issuer_list", "must be true or false"},
        {"/remediation/stages/0/steps/1/add_intermediates", R"({})", "/remediation/stages/0/steps/1/add_intermediates",
         R"(needs "certificate")"},
        {"/remediation/stages/0/steps/1/add_intermediates", R"({"certificate": "absent.pem"})",
         "/remediation/stages/0/steps/1/add_intermediates/certificate", "does not exist"},
        {"/remediation/stages/0/steps/2/trust_ca", R"({"certificate": "ca.pem", "store": "auto", "bundle": "b.pem"})",
         "/remediation/stages/0/steps/2/trust_ca", "not both"},
    }));
    json document = ladder_config();
    document[json::json_pointer(bad.set_at)] = json::parse(bad.value);
    const auto load = parse_config(document.dump(), shared_pki().dir() / "certheal.json", kWindows);
    INFO("set " << bad.set_at << " = " << bad.value << "\n" << all_issues(load));
    CHECK_FALSE(load.config.has_value());
    const auto errors = errors_of(load);
    CHECK(std::any_of(errors.begin(), errors.end(), [&](const ConfigIssue& issue) {
        return issue.pointer == bad.reported_at && issue.message.find(bad.message_part) != std::string::npos;
    }));
}

TEST_CASE("a ladder needs stages or steps, and a when on causes warns where no diagnosis runs", "[config][ladder]") {
    json neither = ladder_config();
    neither["remediation"].erase("stages");
    const auto none = parse_config(neither.dump(), shared_pki().dir() / "certheal.json", kWindows);
    CHECK_THAT(all_issues(none), Catch::Contains(R"(/remediation: is enabled but has no "stages" or "steps")"));

    json linux_ladder = valid_config();
    linux_ladder["remediation"] = json::parse(R"({"stages": [
        {"name": "reload", "when": {"cause": ["ca_not_trusted"]}, "steps": [{"start_service": "nginx"}]}]})");
    const auto on_linux = parse(linux_ladder);
    REQUIRE(on_linux.config.has_value());
    CHECK_THAT(all_issues(on_linux),
               Catch::Contains("/remediation/stages/0/when/cause: warning: names causes of the host trust diagnosis, "
                               "which runs on Windows only"));

    json no_intermediate = ladder_config();
    no_intermediate["remediation"]["stages"][0]["steps"][1]["add_intermediates"]["certificate"] = "ca.pem";
    const auto roots_only = parse_config(no_intermediate.dump(), shared_pki().dir() / "certheal.json", kWindows);
    REQUIRE(roots_only.config.has_value());
    CHECK_THAT(all_issues(roots_only), Catch::Contains("/remediation/stages/0/steps/1/add_intermediates/certificate: "
                                                       "warning: holds no intermediate CA certificate"));
}

TEST_CASE("a trust_ca certificate that is not a CA is a warning", "[config]") {
    json document = valid_config();
    document["remediation"]["steps"] =
        json::parse(R"([{"trust_ca": {"certificate": "client.pem", "bundle": "client-ca.pem"}}])");
    const auto load = parse(document);
    REQUIRE(load.config.has_value());
    CHECK_THAT(all_issues(load), Catch::Contains("/remediation/steps/0/trust_ca/certificate: warning: holds a "
                                                 "certificate that is not a CA certificate (CN=certheal-probe"));
}

TEST_CASE("a missing sites list and a non-object document are errors of the document", "[config]") {
    json document = valid_config();
    document.erase("sites");
    const auto no_sites = parse(document);
    REQUIRE(errors_of(no_sites).size() == 1);
    CHECK(format_issue(errors_of(no_sites)[0]) ==
          "(config): needs a \"sites\" array listing at least one site to probe");

    const auto array = parse(std::string("[1, 2]"));
    REQUIRE(errors_of(array).size() == 1);
    CHECK_THAT(errors_of(array)[0].message, Catch::StartsWith("must be an object, got an array"));
}

TEST_CASE("remediation enabled without steps is an error; disabled or absent it is fine", "[config]") {
    json enabled_without_steps = valid_config();
    enabled_without_steps["remediation"].erase("steps");
    const auto bad = parse(enabled_without_steps);
    REQUIRE(errors_of(bad).size() == 1);
    CHECK(errors_of(bad)[0].pointer == "/remediation");

    json disabled = valid_config();
    disabled["remediation"] = json{{"enabled", false}};
    const auto monitor_only = parse(disabled);
    REQUIRE(monitor_only.config.has_value());
    CHECK_FALSE(monitor_only.config->remediation.enabled);

    json absent = valid_config();
    absent.erase("remediation");
    const auto no_section = parse(absent);
    REQUIRE(no_section.config.has_value());
    CHECK_FALSE(no_section.config->remediation.enabled);
}

TEST_CASE("a syntax error is reported with its line and column", "[config]") {
    const std::string text = "{\n  \"sites\": [\n    {\"name\": \"a\",, }\n  ]\n}\n";
    const auto load = parse(text);
    REQUIRE(load.issues.size() == 1);
    CHECK(load.issues[0].pointer.empty());
    CHECK_THAT(load.issues[0].message, Catch::StartsWith("is not valid JSON: line 3, column 18: "));
    CHECK_FALSE(load.config.has_value());
}

TEST_CASE("a syntax error at the end of the text points past the last line", "[config]") {
    const auto load = parse(std::string("{\n  \"sites\": [\n"));
    REQUIRE(load.issues.size() == 1);
    CHECK_THAT(load.issues[0].message, Catch::StartsWith("is not valid JSON: line 3, column 1: "));
}

TEST_CASE("a UTF-8 byte order mark, as Notepad writes it, is accepted", "[config]") {
    const auto load = parse("\xEF\xBB\xBF" + valid_config().dump());
    INFO(all_issues(load));
    CHECK(load.issues.empty());
    CHECK(load.config.has_value());
}

TEST_CASE("a program path with spaces is quoted in its description", "[config]") {
    Step step;
    step.action = RunStep{"C:\\Program Files\\Repair\\fix.exe", {"--all", "two words"}};
    CHECK(describe_step(step) == "run \"C:\\Program Files\\Repair\\fix.exe\" --all \"two words\"");
}

TEST_CASE("a key written twice in one object is an error at its pointer", "[config]") {
    const auto load = parse(std::string(R"({"sites": [{"name": "a", "url": "https://a/"},
        {"name": "b", "url": "https://b/", "url": "https://c/"}], "remediation": {"enabled": false}})"));
    const auto errors = errors_of(load);
    REQUIRE(errors.size() == 1);
    CHECK(format_issue(errors[0]) == "/sites/1/url: appears twice in the same object; remove one of them");
}

TEST_CASE("every error of a config is reported at once", "[config]") {
    json document = valid_config();
    document["sites"][0]["url"] = "http://intranet.example.com/";
    document["defaults"]["interval"] = "30";
    document["sites"][1]["name"] = "intranet";
    document["remediation"]["steps"][0] = json{{"run", json::array({"iisca.exe"})}};
    document["service"]["colour"] = "blue";
    const auto load = parse(document);
    INFO(all_issues(load));
    CHECK(load.issues.size() == 5);
    CHECK(errors_of(load).size() == 5);
    CHECK_FALSE(load.config.has_value());
}

TEST_CASE("sites inherit every setting from defaults unless they override it", "[config]") {
    const Pki& pki = shared_pki();
    json document = valid_config();
    document["defaults"] = json::parse(R"({
        "interval": "1m", "timeout": "5s", "failure_threshold": 4, "success_threshold": 2,
        "symptoms": ["timeout"], "expect_status": [204], "rejection_pattern": "denied",
        "connect_to": "10.0.0.1",
        "tls": { "ca_file": "ca.pem", "client_cert": { "cert_file": "client.pem", "key_file": "client.key" } }
    })");
    document["sites"][1].update(json::parse(R"({
        "interval": "2m", "timeout": "3s", "failure_threshold": 1, "success_threshold": 3,
        "symptoms": ["tls_error", "connect_failed"], "expect_status": [200, 301], "rejection_pattern": "403\\.16",
        "connect_to": "127.0.0.1",
        "tls": { "verify": true, "client_cert": { "cert_file": "other-client.pem", "key_file": "other-client.key" } }
    })"));
    const auto load = parse(document);
    INFO(all_issues(load));
    REQUIRE(load.config.has_value());
    const SiteConfig& inherits = load.config->sites[0];
    CHECK(inherits.interval == 1min);
    CHECK(inherits.timeout == 5s);
    CHECK(inherits.failure_threshold == 4);
    CHECK(inherits.success_threshold == 2);
    CHECK(inherits.symptoms == std::set<ProbeClass>{ProbeClass::timeout});
    CHECK(inherits.expect_status == std::vector<int>{204});
    CHECK(inherits.rejection_pattern == "denied");
    CHECK(inherits.connect_to == std::optional<std::string>("10.0.0.1"));
    CHECK(inherits.tls.ca_file == pki.dir() / "ca.pem");
    REQUIRE(inherits.tls.client_cert.has_value());
    CHECK(std::get<PemClientCert>(*inherits.tls.client_cert).cert_file == pki.dir() / "client.pem");

    const SiteConfig& overrides = load.config->sites[1];
    CHECK(overrides.interval == 2min);
    CHECK(overrides.timeout == 3s);
    CHECK(overrides.failure_threshold == 1);
    CHECK(overrides.success_threshold == 3);
    CHECK(overrides.symptoms == std::set<ProbeClass>{ProbeClass::tls_error, ProbeClass::connect_failed});
    CHECK(overrides.expect_status == std::vector<int>{200, 301});
    CHECK(overrides.rejection_pattern == "403\\.16");
    CHECK(overrides.connect_to == std::optional<std::string>("127.0.0.1"));
    // tls merges key by key: the site's client_cert, the defaults' ca_file.
    CHECK(overrides.tls.ca_file == pki.dir() / "ca.pem");
    REQUIRE(overrides.tls.client_cert.has_value());
    CHECK(std::get<PemClientCert>(*overrides.tls.client_cert).cert_file == pki.dir() / "other-client.pem");
}

TEST_CASE("revocation_unavailable and client_cert_negotiation_unsupported are valid symptoms, not default ones",
          "[config]") {
    json document = valid_config();
    document["defaults"]["symptoms"] = {"client_cert_rejected", "revocation_unavailable",
                                        "client_cert_negotiation_unsupported"};
    const auto load = parse(document);
    REQUIRE(load.config.has_value());
    CHECK(load.config->sites[0].symptoms ==
          std::set<ProbeClass>{ProbeClass::client_cert_rejected, ProbeClass::revocation_unavailable,
                               ProbeClass::client_cert_negotiation_unsupported});
    CHECK_FALSE(SiteConfig{}.symptoms.count(ProbeClass::revocation_unavailable));
    CHECK_FALSE(SiteConfig{}.symptoms.count(ProbeClass::client_cert_negotiation_unsupported));
}

TEST_CASE("a site without defaults gets the documented built-in values", "[config]") {
    json document = valid_config();
    document.erase("defaults");
    const auto load = parse(document);
    REQUIRE(load.config.has_value());
    const SiteConfig& site = load.config->sites[0];
    CHECK(site.interval == 30s);
    CHECK(site.timeout == 10s);
    CHECK(site.failure_threshold == 3);
    CHECK(site.success_threshold == 1);
    CHECK(site.symptoms == std::set<ProbeClass>{ProbeClass::client_cert_rejected, ProbeClass::connect_failed});
    CHECK(site.expect_status == std::vector<int>{200});
    CHECK(site.rejection_pattern == "403\\.7");
    CHECK(site.tls.verify);
    CHECK_FALSE(site.tls.ca_file.has_value());
    CHECK_FALSE(site.tls.client_cert.has_value());
    CHECK_FALSE(site.connect_to.has_value());
}

TEST_CASE("a site URL is split into host, port and target", "[config]") {
    struct Case {
        const char* url;
        const char* host;
        int port;
        const char* target;
    };
    const auto c = GENERATE(values<Case>({
        {"https://intranet.example.com/health", "intranet.example.com", 443, "/health"},
        {"https://intranet.example.com", "intranet.example.com", 443, "/"},
        {"HTTPS://h.example:8443/a/b?x=1&y=2#frag", "h.example", 8443, "/a/b?x=1&y=2"},
        {"https://h.example?probe=1", "h.example", 443, "/?probe=1"},
        {"https://127.0.0.1:4443/", "127.0.0.1", 4443, "/"},
        {"https://[::1]:4443/x", "::1", 4443, "/x"},
    }));
    json document = valid_config();
    document["sites"][0]["url"] = c.url;
    const auto load = parse(document);
    INFO(all_issues(load));
    REQUIRE(load.config.has_value());
    const SiteConfig& site = load.config->sites[0];
    CHECK(site.url == c.url);
    CHECK(site.host == c.host);
    CHECK(site.port == c.port);
    CHECK(site.target == c.target);
}

TEST_CASE("relative paths resolve against the config file's folder", "[config]") {
    const Pki& pki = shared_pki();
    json document = valid_config();
    document["service"]["state_dir"] = "state";
    document["sites"][0]["tls"] = json{{"ca_file", "ca.pem"}};
    const auto load = parse(document);
    INFO(all_issues(load));
    REQUIRE(load.config.has_value());
    CHECK(load.config->service.state_dir == pki.dir() / "state");
    CHECK(load.config->sites[0].tls.ca_file == pki.dir() / "ca.pem");
    CHECK(load.config->source == pki.dir() / "certheal.json");
}

TEST_CASE("absolute paths are kept and state_dir falls back to the platform default", "[config]") {
    const Pki& pki = shared_pki();
    json document = valid_config();
    document["sites"][0]["tls"] = json{{"ca_file", pki.ca_cert.string()}};
    const auto load = parse(document);
    REQUIRE(load.config.has_value());
    CHECK(load.config->sites[0].tls.ca_file == pki.ca_cert);
    CHECK(load.config->service.state_dir == kContext.default_state_dir);
    REQUIRE(load.config->service.status_listen);
    CHECK(load.config->service.status_listen->address == "127.0.0.1");
    CHECK(load.config->service.status_listen->port == 9464);
    CHECK(load.config->service.status_listen->text() == "127.0.0.1:9464");
    CHECK_FALSE(load.config->service.allow_insecure_config_acl);
}

TEST_CASE("load_config reads the file and resolves paths next to it", "[config]") {
    certheal::test::TempDir dir;
    const Pki& pki = shared_pki();
    dir.write("trust/ca.pem", read_text(pki.ca_cert));
    json document = valid_config();
    document["service"]["allow_insecure_config_acl"] = true;
    document["sites"][0]["tls"] = json{{"ca_file", "trust/ca.pem"}};
    const auto file = dir.write("certheal.json", document.dump());
    const auto load = load_config(file, kContext);
    INFO(all_issues(load));
    REQUIRE(load.config.has_value());
    CHECK(load.config->sites[0].tls.ca_file == dir.path() / "trust" / "ca.pem");
    CHECK(load.config->service.allow_insecure_config_acl);
}

TEST_CASE("load_config on a missing file reports it as an error of the document", "[config]") {
    certheal::test::TempDir dir;
    const auto load = load_config(dir.path() / "absent.json", kContext);
    REQUIRE(load.issues.size() == 1);
    CHECK(load.issues[0].pointer.empty());
    CHECK_THAT(load.issues[0].message, Catch::Contains("absent.json") && Catch::Contains("does not exist"));
    CHECK_FALSE(load.config.has_value());
}

TEST_CASE("tls verify false is a warning that still yields a config", "[config]") {
    json document = valid_config();
    document["sites"][1]["tls"] = json{{"verify", false}};
    const auto load = parse(document);
    REQUIRE(load.issues.size() == 1);
    CHECK(load.issues[0].level == ConfigIssue::Level::warning);
    CHECK(load.issues[0].pointer == "/sites/1/tls/verify");
    CHECK_THAT(format_issue(load.issues[0]), Catch::StartsWith("/sites/1/tls/verify: warning: is false"));
    REQUIRE(load.config.has_value());
    CHECK_FALSE(load.config->sites[1].tls.verify);
    CHECK(load.config->sites[0].tls.verify);
}

TEST_CASE("a warning next to an error still withholds the config", "[config]") {
    json document = valid_config();
    document["defaults"]["tls"] = json{{"verify", false}};
    document["sites"][0]["url"] = "ftp://x/";
    const auto load = parse(document);
    CHECK(load.issues.size() == 2);
    CHECK(errors_of(load).size() == 1);
    CHECK_FALSE(load.config.has_value());
}

TEST_CASE("a PKCS#12 password never appears in any issue", "[config][secrets]") {
    const Pki& pki = shared_pki();
    const std::string secret = "Zebra-Quartz-9931-do-not-print";
    ScopedEnv env_password("CERTHEAL_TEST_SECRET_PW", secret);
    const auto password_file = pki.write("secret-password.txt", secret + "\n");

    json document = valid_config();
    document["sites"] = json::parse(R"([
        { "name": "env", "url": "https://a.example/",
          "tls": { "client_cert": { "pfx_file": "client.pfx", "password_env": "CERTHEAL_TEST_SECRET_PW" } } },
        { "name": "file", "url": "https://b.example/",
          "tls": { "client_cert": { "pfx_file": "client.pfx", "password_file": "secret-password.txt" } } },
        { "name": "password-as-ca", "url": "https://c.example/", "tls": { "ca_file": "secret-password.txt" } },
        { "name": "password-as-pem", "url": "https://d.example/",
          "tls": { "client_cert": { "cert_file": "secret-password.txt", "key_file": "secret-password.txt" } } },
        { "name": "password-as-key", "url": "https://e.example/",
          "tls": { "client_cert": { "cert_file": "client.pem", "key_file": "secret-password.txt" } } },
        { "name": "password-as-pfx", "url": "https://f.example/",
          "tls": { "client_cert": { "pfx_file": "secret-password.txt", "password_env": "CERTHEAL_TEST_SECRET_PW" } } }
    ])");
    const auto load = parse(document);
    INFO(all_issues(load));
    REQUIRE(errors_of(load).size() == 6);  // every site is broken, so the secret was read and used
    for (const auto& issue : load.issues) {
        CHECK_THAT(format_issue(issue), !Catch::Contains(secret));
    }
    CHECK(password_file.filename() == "secret-password.txt");
}

TEST_CASE("a PKCS#12 client certificate with a good password source validates", "[config]") {
    const Pki& pki = shared_pki();
    ScopedEnv env_password("CERTHEAL_TEST_GOOD_PW", pki.pfx_password());
    pki.write("good-password.txt", pki.pfx_password() + "\r\n");
    json document = valid_config();
    document["sites"][0]["tls"] = json::parse(
        R"({ "client_cert": { "pfx_file": "client.pfx", "password_env": "CERTHEAL_TEST_GOOD_PW" } })");
    document["sites"][1]["tls"] = json::parse(
        R"({ "client_cert": { "pfx_file": "client.pfx", "password_file": "good-password.txt" } })");
    const auto load = parse(document);
    INFO(all_issues(load));
    REQUIRE(load.config.has_value());
    const auto& by_env = std::get<PfxClientCert>(*load.config->sites[0].tls.client_cert);
    CHECK(by_env.pfx_file == pki.dir() / "client.pfx");
    CHECK(by_env.password_env == std::optional<std::string>("CERTHEAL_TEST_GOOD_PW"));
    CHECK_FALSE(by_env.password_file.has_value());
    const auto& by_file = std::get<PfxClientCert>(*load.config->sites[1].tls.client_cert);
    CHECK(by_file.password_file == std::optional<std::filesystem::path>(pki.dir() / "good-password.txt"));
}

TEST_CASE("run programs may be POSIX or Windows absolute paths on any platform", "[config]") {
    // A program of this platform must exist (the other platform's is only named in a warning):
    // the Windows drive paths name cmd.exe, which every Windows (and Wine prefix) has.
#ifdef _WIN32
    // Here the share would be looked up, and it is not there.
    const char* program = GENERATE("/usr/sbin/nginx", "C:\\Windows\\System32\\cmd.exe", "c:/windows/system32/cmd.exe");
#else
    const char* program = GENERATE("/usr/sbin/nginx", "C:\\Windows\\System32\\cmd.exe", "c:/windows/system32/cmd.exe",
                                   "\\\\fileserver\\share\\repair.exe");
#endif
    json document = valid_config();
    document["remediation"]["steps"][0] = json{{"run", json::array({program, "-s", "reload"})}, {"timeout", "30s"}};
    const auto load = parse(document);
    INFO(all_issues(load));
    REQUIRE(load.config.has_value());
    const Step& step = load.config->remediation.steps[0];
    const auto& run = std::get<RunStep>(step.action);
    CHECK(run.program == std::filesystem::path(program));
    CHECK(run.args == std::vector<std::string>{"-s", "reload"});
    CHECK(step.timeout == 30s);
}

TEST_CASE("a relative or drive-relative run program is refused", "[config]") {
    const char* program = GENERATE("nginx", "bin/nginx", "C:nginx.exe", ".\\iisca.exe", "tools\\repair.exe");
    json document = valid_config();
    document["remediation"]["steps"][0] = json{{"run", json::array({program})}};
    const auto load = parse(document);
    REQUIRE(errors_of(load).size() == 1);
    CHECK(errors_of(load)[0].pointer == "/remediation/steps/0/run/0");
}

TEST_CASE("steps parse into their actions with timeouts and describe themselves", "[config]") {
    json document = valid_config();
    document["remediation"] = json::parse(R"({
        "enabled": true, "dry_run": true, "cooldown": "5m", "max_attempts": 2,
        "attempt_window": "30m", "circuit_reset_after": "2h",
        "steps": [
          { "run": ["C:\\Windows\\System32\\cmd.exe", "/a b"], "timeout": "60s" },
          { "stop_service": "IISADMIN", "with_dependents": true, "timeout": "2m" },
          { "start_service": "W3SVC" },
          { "restore_dependents": true },
          { "verify": { "attempts": 3, "delay": "1m30s" } },
          { "verify": {} }
        ]})");
    const auto load = parse(document);
    INFO(all_issues(load));
    REQUIRE(load.config.has_value());
    const RemediationConfig& remediation = load.config->remediation;
    CHECK(remediation.enabled);
    CHECK(remediation.dry_run);
    CHECK(remediation.cooldown == 5min);
    CHECK(remediation.max_attempts == 2);
    CHECK(remediation.attempt_window == 30min);
    CHECK(remediation.circuit_reset_after == 2h);
    REQUIRE(remediation.steps.size() == 6);

    std::vector<std::string> kinds;
    std::vector<std::string> descriptions;
    for (const Step& step : remediation.steps) {
        kinds.emplace_back(step_kind(step.action));
        descriptions.push_back(describe_step(step));
    }
    CHECK(kinds == std::vector<std::string>{"run", "stop_service", "start_service", "restore_dependents", "verify",
                                            "verify"});
    CHECK(descriptions == std::vector<std::string>{
                              "run C:\\Windows\\System32\\cmd.exe \"/a b\"",
                              "stop_service IISADMIN with dependents",
                              "start_service W3SVC",
                              "restore_dependents",
                              "verify: up to 3 probes, 1m30s apart",
                              "verify: up to 5 probes, 10s apart",
                          });
    CHECK(remediation.steps[0].timeout == 60s);
    CHECK(remediation.steps[1].timeout == 2min);
    CHECK(remediation.steps[2].timeout == 60s);  // the built-in default
    CHECK(std::get<StopServiceStep>(remediation.steps[1].action).with_dependents);
}

TEST_CASE("format_issue writes pointer, level and message on one line", "[config]") {
    CHECK(format_issue({ConfigIssue::Level::error, "/sites/2/url", "must be an https URL"}) ==
          "/sites/2/url: must be an https URL");
    CHECK(format_issue({ConfigIssue::Level::warning, "/defaults/tls/verify", "is false"}) ==
          "/defaults/tls/verify: warning: is false");
    CHECK(format_issue({ConfigIssue::Level::error, "", "is not valid JSON"}) == "(config): is not valid JSON");
}

TEST_CASE("keys with slashes and tildes are escaped in pointers", "[config]") {
    json document = valid_config();
    document["sites"][0]["a/b~c"] = 1;
    const auto load = parse(document);
    REQUIRE(errors_of(load).size() == 1);
    CHECK(errors_of(load)[0].pointer == "/sites/0/a~1b~0c");
}

// The examples name ca.pem, client.pem/.key, client.pfx and the client CA (client-ca.cer on
// Windows, client-ca.pem on Linux), and on Windows its chain (client-ca-chain.pem), next to the
// config, as the test PKI's folder provides them.
void provide_example_files(const Pki& pki) {
    pki.write("client-ca.pem", read_text(pki.ca_cert));
    auto ca = load_certificates(pki.ca_cert);
    REQUIRE(ca.ok());
    unsigned char* der = nullptr;
    const int length = i2d_X509(ca.value().front().get(), &der);
    REQUIRE(length > 0);
    pki.write("client-ca.cer", std::string(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length)));
    OPENSSL_free(der);
    pki.write("client-ca-chain.pem", read_text(pki.intermediate_ca_cert) + read_text(pki.ca_cert));
}

TEST_CASE("the shipped example configs parse without any issue", "[config][examples]") {
    const Pki& pki = shared_pki();
    provide_example_files(pki);
    ScopedEnv password("CERTHEAL_PFX_PASSWORD", pki.pfx_password());
    const std::filesystem::path source_dir = CERTHEAL_SOURCE_DIR;
    const auto example = GENERATE(as<std::string>{}, "config/certheal.example.json", "config/examples/iis7.json",
                                  "config/examples/linux-nginx.json");
    CAPTURE(example);
    // The Windows examples re-sync LocalMachine stores, which only a Windows host has.
    const bool windows_example = example != "config/examples/linux-nginx.json";
    const ConfigContext context{"/default/state", windows_example};
    const auto load = parse_config(read_text(source_dir / example), pki.dir() / "certheal.json", context);
    INFO(all_issues(load));
#ifdef _WIN32
    const bool native_example = windows_example;
#else
    const bool native_example = !windows_example;
#endif
    // The run programs of the other platform's example cannot be checked on this host: they are
    // named in a warning, and that is the only issue allowed.
    std::vector<ConfigIssue> unexpected;
    std::copy_if(load.issues.begin(), load.issues.end(), std::back_inserter(unexpected), [&](const ConfigIssue& issue) {
        return native_example || issue.level != ConfigIssue::Level::warning ||
               issue.message.find("is not a path of this system") == std::string::npos;
    });
    CHECK(unexpected.empty());
    REQUIRE(load.config.has_value());
    CHECK_FALSE(load.config->sites.empty());
    CHECK_FALSE(load.config->remediation.stages.empty());
}

TEST_CASE("the IIS examples are ladders: trust without downtime, then the web service, then IIS with its dependents",
          "[config][examples][ladder]") {
    const Pki& pki = shared_pki();
    provide_example_files(pki);
    ScopedEnv password("CERTHEAL_PFX_PASSWORD", pki.pfx_password());
    const auto example = GENERATE(as<std::string>{}, "config/certheal.example.json", "config/examples/iis7.json");
    CAPTURE(example);
    const auto load = parse_config(read_text(std::filesystem::path(CERTHEAL_SOURCE_DIR) / example),
                                   pki.dir() / "certheal.json", ConfigContext{"/default/state", true});
    REQUIRE(load.config.has_value());
    const auto& stages = load.config->remediation.stages;
    REQUIRE(stages.size() == 3);
    std::vector<std::string> names;
    for (const auto& stage : stages) names.push_back(stage.name);
    CHECK(names == std::vector<std::string>{"trust", "restart web service", "restart IIS with dependents"});
    std::vector<std::string> trust;
    for (const Step& step : stages[0].steps) trust.push_back(describe_step(step));
    CHECK(trust == std::vector<std::string>{
                       "fix_root_store: move certificates that are not self-signed from LocalMachine\\Root to "
                       "LocalMachine\\CA",
                       "add_intermediates " + (pki.dir() / "client-ca-chain.pem").string() + " into LocalMachine\\CA",
                       "trust_ca " + (pki.dir() / "client-ca.cer").string() +
                           " into the store Schannel trusts for each site's binding (auto)",
                   });
    CHECK(stages[0].when.empty());  // no downtime: it runs for every incident
    CHECK(describe_step(stages[1].steps[0]) == "stop_service WAS with dependents");
    CHECK(describe_step(stages[2].steps[0]) == "stop_service IISADMIN with dependents");
    // No trust re-sync or restart cures a revoked or expired certificate, nor an unreachable CRL.
    for (std::size_t i = 1; i < stages.size(); ++i) {
        CHECK(stages[i].when.classes.count(ProbeClass::client_cert_invalid) == 0);
        CHECK_FALSE(stages[i].when.classes.empty());
        const auto invalid = stage_mismatch(stages[i].when, {ProbeClass::client_cert_invalid, std::nullopt});
        CHECK(invalid.has_value());
    }
    if (example == "config/certheal.example.json") {
        CHECK(load.config->service.state_dir == std::filesystem::path("C:\\ProgramData\\certheal"));
    }
}

TEST_CASE("the nginx example reloads with the re-synchronised bundle first and restarts nginx only after",
          "[config][examples][ladder]") {
    const Pki& pki = shared_pki();
    provide_example_files(pki);
    const auto load = parse_config(read_text(std::filesystem::path(CERTHEAL_SOURCE_DIR) / "config/examples/linux-nginx.json"),
                                   pki.dir() / "certheal.json", ConfigContext{"/default/state", false});
    REQUIRE(load.config.has_value());
    const auto& stages = load.config->remediation.stages;
    REQUIRE(stages.size() == 2);
    CHECK(std::holds_alternative<PemBundleTarget>(std::get<TrustCaStep>(stages[0].steps[0].action).target));
    CHECK(describe_step(stages[0].steps.back()) == "run /usr/sbin/nginx -s reload");
    CHECK(describe_step(stages[1].steps[0]) == "stop_service nginx");
    CHECK(describe_step(stages[1].steps[1]) == "start_service nginx");
}

TEST_CASE("status_listen is read once into the address the status server binds", "[config]") {
    struct Row {
        const char* written;
        const char* address;
        std::uint16_t port;
        const char* text;
    };
    const Row rows[] = {
        {"127.0.0.1:9464", "127.0.0.1", 9464, "127.0.0.1:9464"},
        {"localhost:9100", "127.0.0.1", 9100, "127.0.0.1:9100"},
        {"[::1]:9464", "::1", 9464, "[::1]:9464"},
        {"::1:8080", "::1", 8080, "[::1]:8080"},
    };
    for (const auto& row : rows) {
        INFO(row.written);
        json document = valid_config();
        document["service"]["status_listen"] = row.written;
        const auto load = parse(document);
        REQUIRE(load.config.has_value());
        REQUIRE(load.config->service.status_listen);
        CHECK(load.config->service.status_listen->address == row.address);
        CHECK(load.config->service.status_listen->port == row.port);
        CHECK(load.config->service.status_listen->text() == row.text);
    }
}

TEST_CASE("validation decodes each TLS file once into the cache the prober reuses", "[config][tls]") {
    const Pki& pki = shared_pki();
    json document = valid_config();
    document["defaults"]["tls"] = {{"ca_file", "ca.pem"}, {"client_cert", {{"cert_file", "client.pem"}, {"key_file", "client.key"}}}};
    document["service"]["max_concurrent_probes"] = 8;
    ConfigContext context = kContext;
    context.tls_material = std::make_shared<TlsMaterialCache>();
    const auto load = parse_config(document.dump(), pki.dir() / "certheal.json", context);
    REQUIRE(load.config.has_value());
    CHECK(load.config->service.max_concurrent_probes == 8u);
    // Two sites share the files: the CA, the certificate and the identity are decoded once each.
    const auto decoded_by_validation = context.tls_material->decoded();
    CHECK(decoded_by_validation == 3);
    // The prober's TLS contexts come from the same cache without reading anything again.
    TlsContextCache contexts(*context.tls_material, nullptr);
    for (const auto& site : load.config->sites) REQUIRE(contexts.context_for(site.tls, site.name).ok());
    CHECK(contexts.size() == 1);
    CHECK(context.tls_material->decoded() == decoded_by_validation);
}

TEST_CASE("a document nested deeper than certheal's configs ever are is refused before it is walked", "[config][hostile]") {
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    const auto load = parse(deep);
    CHECK_FALSE(load.config.has_value());
    CHECK(all_issues(load) == "(config): is not valid JSON: it nests deeper than 32 levels\n");
}

TEST_CASE("a number beyond a double is a config error, not an escaping exception", "[config][hostile]") {
    const auto load = parse(std::string(R"({"sites": 1E400})"));
    CHECK_FALSE(load.config.has_value());
    CHECK_THAT(all_issues(load), Catch::Contains("(config): is not valid JSON: number overflow parsing '1E400'"));
}

TEST_CASE("a config path that is a folder, or missing, is a config error", "[config][hostile]") {
    TempDir dir;
    const auto folder = load_config(dir.path(), kContext);
    CHECK_FALSE(folder.config.has_value());
    CHECK_THAT(all_issues(folder), Catch::Contains("is a folder, not a file"));
}

TEST_CASE("thousands of repeated keys are reported as a bounded list", "[config][hostile]") {
    std::string text = R"({"sites": [{"name": "a", "url": "https://a/")";
    for (int index = 0; index < 5000; ++index) text += R"(, "name": "a")";
    text += "}]}";
    const auto load = parse(text);
    CHECK_FALSE(load.config.has_value());
    CHECK(load.issues.size() == 201);
    CHECK_THAT(load.issues.back().message, Catch::Contains("more issue(s) not listed"));
}

TEST_CASE("a run program that does not exist on this host is refused before a repair needs it", "[config][run]") {
    TempDir dir;
    json document = valid_config();
    const auto missing = (dir.path() / "iisca").string();
    document["remediation"]["steps"][0] = json{{"run", json::array({missing})}};
    auto load = parse(document);
    CHECK_FALSE(load.config.has_value());
    CHECK_THAT(all_issues(load), Catch::Contains("/remediation/steps/0/run/0: names a program that does not exist"));

    document["remediation"]["steps"][0] = json{{"run", json::array({dir.path().string()})}};
    load = parse(document);
    CHECK_FALSE(load.config.has_value());
    CHECK_THAT(all_issues(load), Catch::Contains("is not a regular file"));
}

TEST_CASE("a control character in a name, URL or program is refused with its path", "[config][hostile]") {
    json document = valid_config();
    document["sites"][0]["name"] = "intra\nnet";
    document["sites"][1]["url"] = "https://extranet.example.com/\r\nX-Forged: 1";
    auto load = parse(document);
    CHECK_FALSE(load.config.has_value());
    const auto issues = all_issues(load);
    CHECK_THAT(issues, Catch::Contains("/sites/0/name: must not contain control characters"));
    CHECK_THAT(issues, Catch::Contains("/sites/1/url: must not contain control characters"));

    document = valid_config();
    document["remediation"]["steps"][0] = json{{"run", json::array({"/usr/bin/env\x1b[2J"})}};
    load = parse(document);
    CHECK_FALSE(load.config.has_value());
    CHECK_THAT(all_issues(load), Catch::Contains("/remediation/steps/0/run/0: must not contain control characters"));
}

TEST_CASE("the host's context names the web server that sentences speak of", "[config][events]") {
    const auto elsewhere = parse_config(valid_config().dump(), shared_pki().dir() / "certheal.json", kContext);
    REQUIRE(elsewhere.config);
    CHECK(elsewhere.config->remediation.web_server == "the web server");
    ConfigContext windows = kContext;
    windows.web_server = "IIS";
    const auto on_windows = parse_config(valid_config().dump(), shared_pki().dir() / "certheal.json", windows);
    REQUIRE(on_windows.config);
    CHECK(on_windows.config->remediation.web_server == "IIS");
}
