#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <iostream>
#include <optional>
#include <vector>

#include "config/config.hpp"
#include "core/probe/https_prober.hpp"
#include "support/files.hpp"
#include "support/lab.hpp"

using namespace certheal;
using namespace certheal::test;
using namespace std::chrono_literals;

namespace {

SiteConfig nginx_site(const NginxLab& lab, const std::string& target = "/health") {
    SiteConfig site;
    site.name = "lab";
    site.host = "localhost";
    site.port = lab.port();
    site.target = target;
    site.url = "https://localhost:" + std::to_string(lab.port()) + target;
    site.connect_to = "127.0.0.1";
    site.tls.ca_file = lab.file("server_ca");
    site.tls.client_cert = PemClientCert{lab.file("client_cert"), lab.file("client_key")};
    site.timeout = 5s;
    return site;
}

SiteConfig s_server_site(const NginxLab& lab, std::uint16_t port) {
    SiteConfig site = nginx_site(lab, "/");
    site.name = "s_server";
    site.port = port;
    site.url = "https://localhost:" + std::to_string(port) + "/";
    site.tls.client_cert.reset();
    return site;
}

SServerOptions s_server_options(const NginxLab& lab, bool tls12_only) {
    return SServerOptions{lab.file("server_cert"), lab.file("server_key"), lab.file("good_ca"), tls12_only, {}};
}

ProbeResult probe_once(const SiteConfig& site, ProberOptions options = {}) {
    boost::asio::io_context io;
    HttpsProber prober(io, options);
    std::optional<ProbeResult> result;
    int calls = 0;
    prober.probe(site, [&](ProbeResult probed) {
        ++calls;
        result = std::move(probed);
    });
    CHECK(calls == 0);  // never inside probe()
    io.run();
    REQUIRE(calls == 1);
    INFO("error: " << result->error.value_or("(none)"));
    return *result;
}

}  // namespace

TEST_CASE("a healthy nginx with the good client certificate is healthy with 200", "[lab][probe]") {
    const auto result = probe_once(nginx_site(shared_nginx_lab()));
    INFO(result.error.value_or(""));
    CHECK(result.probe_class == ProbeClass::healthy);
    CHECK(result.status == 200);
    CHECK_FALSE(result.error);
    CHECK_FALSE(result.tls_alert);
    CHECK(result.timings.resolve_ms.has_value());
    CHECK(result.timings.connect_ms.has_value());
    CHECK(result.timings.tls_ms.has_value());
    CHECK(result.timings.response_ms.has_value());
    CHECK(result.timings.total_ms >= *result.timings.tls_ms);
    CHECK(result.site == "lab");
}

TEST_CASE("a desynchronised nginx answers its 400 SSL certificate error, which is a client certificate rejection",
          "[lab][probe]") {
    NginxLab lab;
    lab.desync();
    const auto rejected = probe_once(nginx_site(lab));
    CHECK(rejected.probe_class == ProbeClass::client_cert_rejected);
    CHECK(rejected.status == 400);
    CHECK_FALSE(rejected.iis_substatus);
    CHECK(rejected.client_ca_names == std::vector<std::string>{"CN=certheal lab other client CA"});
    CHECK(rejected.client_issuer_listed == false);
    REQUIRE(rejected.error);
    CHECK_THAT(*rejected.error, Catch::Contains("400") && Catch::Contains("client certificate"));

    lab.resync();
    const auto healed = probe_once(nginx_site(lab));
    CHECK(healed.probe_class == ProbeClass::healthy);
    CHECK(healed.status == 200);
}

TEST_CASE("s_server requiring a client certificate rejects a probe without one (TLS 1.3)", "[lab][probe]") {
    SServer server(s_server_options(shared_nginx_lab(), false));
    const auto result = probe_once(s_server_site(shared_nginx_lab(), server.port()));
    CHECK(result.probe_class == ProbeClass::client_cert_rejected);
    CHECK(result.tls_alert == std::optional<std::string>("certificate_required"));
    CHECK_FALSE(result.status);
    REQUIRE(result.error);
    CHECK_THAT(*result.error, Catch::Contains("rejected the client certificate"));
}

TEST_CASE("s_server requiring a client certificate rejects a probe without one (TLS 1.2)", "[lab][probe]") {
    SServer server(s_server_options(shared_nginx_lab(), true));
    const auto result = probe_once(s_server_site(shared_nginx_lab(), server.port()));
    CHECK(result.probe_class == ProbeClass::client_cert_rejected);
    CHECK(result.tls_alert == std::optional<std::string>("handshake_failure"));
    CHECK_FALSE(result.timings.response_ms);
}

TEST_CASE("s_server rejects a client certificate from an unknown CA with unknown_ca", "[lab][probe]") {
    for (const bool tls12_only : {false, true}) {
        INFO("TLS 1.2 only: " << tls12_only);
        SServer server(s_server_options(shared_nginx_lab(), tls12_only));
        auto site = s_server_site(shared_nginx_lab(), server.port());
        site.tls.client_cert = PemClientCert{shared_nginx_lab().file("stranger_cert"), shared_nginx_lab().file("stranger_key")};
        const auto result = probe_once(site);
        CHECK(result.probe_class == ProbeClass::client_cert_rejected);
        CHECK(result.tls_alert == std::optional<std::string>("unknown_ca"));
        REQUIRE(result.error);
        CHECK_THAT(*result.error, Catch::Contains("alert unknown_ca") && Catch::Contains("127.0.0.1"));
    }
}

TEST_CASE("s_server refuses an expired client certificate with certificate_expired: client_cert_invalid",
          "[lab][probe]") {
    for (const bool tls12_only : {false, true}) {
        INFO("TLS 1.2 only: " << tls12_only);
        SServer server(s_server_options(shared_nginx_lab(), tls12_only));
        auto site = s_server_site(shared_nginx_lab(), server.port());
        site.tls.client_cert =
            PemClientCert{shared_nginx_lab().file("expired_client_cert"), shared_nginx_lab().file("expired_client_key")};
        const auto result = probe_once(site);
        CHECK(result.probe_class == ProbeClass::client_cert_invalid);
        CHECK(result.tls_alert == std::optional<std::string>("certificate_expired"));
        CHECK(result.client_ca_names == std::vector<std::string>{"CN=certheal lab good client CA"});
        CHECK(result.client_issuer_listed == true);
        REQUIRE(result.error);
        CHECK_THAT(*result.error, Catch::Contains("expired on") && Catch::Contains("Renew the certificate"));
    }
}

TEST_CASE("s_server accepts the good client certificate", "[lab][probe]") {
    SServer server(s_server_options(shared_nginx_lab(), false));
    auto site = s_server_site(shared_nginx_lab(), server.port());
    site.tls.client_cert = PemClientCert{shared_nginx_lab().file("client_cert"), shared_nginx_lab().file("client_key")};
    const auto result = probe_once(site);
    CHECK(result.probe_class == ProbeClass::healthy);
    CHECK(result.status == 200);
}

TEST_CASE("a closed port is a failed connection", "[lab][probe]") {
    auto site = nginx_site(shared_nginx_lab());
    site.port = closed_port();
    const auto result = probe_once(site);
    CHECK(result.probe_class == ProbeClass::connect_failed);
    CHECK_FALSE(result.timings.tls_ms);
    CHECK_FALSE(result.timings.response_ms);
    REQUIRE(result.error);
    CHECK_THAT(*result.error, Catch::Contains("refused"));
}

TEST_CASE("a server that never answers the handshake times out within the site timeout", "[lab][probe]") {
    Blackhole blackhole;
    auto site = nginx_site(shared_nginx_lab());
    site.port = blackhole.port();
    site.timeout = 700ms;
    const auto result = probe_once(site);
    CHECK(result.probe_class == ProbeClass::timeout);
    CHECK(result.timings.total_ms >= 690.0);
    CHECK(result.timings.total_ms < 700.0 + 1500.0);  // generous: CI machines are loaded
    CHECK(result.timings.connect_ms.has_value());
    CHECK(result.timings.tls_ms.has_value());
    CHECK_FALSE(result.timings.response_ms);
    REQUIRE(result.error);
    CHECK_THAT(*result.error, Catch::Contains("timed out") && Catch::Contains("TLS handshake"));
}

TEST_CASE("a per-phase limit ends the handshake before the site timeout", "[lab][probe]") {
    Blackhole blackhole;
    auto site = nginx_site(shared_nginx_lab());
    site.port = blackhole.port();
    site.timeout = 5s;
    ProberOptions options;
    options.tls_limit = 300ms;
    const auto result = probe_once(site, options);
    CHECK(result.probe_class == ProbeClass::timeout);
    CHECK(result.timings.total_ms < 2500.0);  // well before the 5 s site timeout
}

TEST_CASE("a server certificate that does not name the URL's host is a TLS error", "[lab][probe]") {
    auto site = nginx_site(shared_nginx_lab());
    site.host = "wrong.example";
    site.url = "https://wrong.example:" + std::to_string(site.port) + "/health";
    const auto result = probe_once(site);
    CHECK(result.probe_class == ProbeClass::tls_error);
    REQUIRE(result.error);
    CHECK_THAT(*result.error, Catch::Contains("server certificate was not accepted") &&
                                  Catch::Contains("Hostname mismatch", Catch::CaseSensitive::No));

    site.tls.verify = false;
    const auto unverified = probe_once(site);
    CHECK(unverified.probe_class == ProbeClass::healthy);
    CHECK(unverified.status == 200);
}

TEST_CASE("a server certificate from a CA the site does not trust is a TLS error", "[lab][probe]") {
    auto site = nginx_site(shared_nginx_lab());
    site.tls.ca_file = shared_nginx_lab().file("other_ca");
    const auto result = probe_once(site);
    CHECK(result.probe_class == ProbeClass::tls_error);
    CHECK_FALSE(result.tls_alert);
}

TEST_CASE("connect_to changes only the address: SNI and Host keep the URL's host", "[lab][probe]") {
    const auto through_connect_to = probe_once(nginx_site(shared_nginx_lab(), "/sni"));
    CHECK(through_connect_to.probe_class == ProbeClass::healthy);

    // The control: with the address as host, nginx sees other names and answers 421.
    auto by_address = nginx_site(shared_nginx_lab(), "/sni");
    by_address.host = "127.0.0.1";
    by_address.connect_to.reset();
    const auto control = probe_once(by_address);
    CHECK(control.probe_class == ProbeClass::unexpected_status);
    CHECK(control.status == 421);
}

TEST_CASE("a PKCS#12 client identity with a password file works", "[lab][probe]") {
    auto site = nginx_site(shared_nginx_lab());
    site.tls.client_cert = PfxClientCert{shared_nginx_lab().file("client_p12"), std::nullopt,
                                         shared_nginx_lab().file("client_p12_password_file")};
    const auto result = probe_once(site);
    CHECK(result.probe_class == ProbeClass::healthy);
}

TEST_CASE("a PKCS#12 client identity with its password in an environment variable works", "[lab][probe]") {
    ::setenv("CERTHEAL_LAB_PFX_PASSWORD", shared_nginx_lab().pfx_password().c_str(), 1);
    auto site = nginx_site(shared_nginx_lab());
    site.tls.client_cert = PfxClientCert{shared_nginx_lab().file("client_p12"), "CERTHEAL_LAB_PFX_PASSWORD", std::nullopt};
    const auto result = probe_once(site);
    CHECK(result.probe_class == ProbeClass::healthy);

    ::setenv("CERTHEAL_LAB_PFX_PASSWORD", "hunter2-not-it", 1);
    site.name = "wrong-password";  // a different cache entry
    const auto refused = probe_once(site);
    CHECK(refused.probe_class == ProbeClass::tls_error);
    REQUIRE(refused.error);
    CHECK(refused.error->find("hunter2") == std::string::npos);  // the password never shows
    ::unsetenv("CERTHEAL_LAB_PFX_PASSWORD");
}

TEST_CASE("twenty sites probed at once all finish, the slow ones not holding up the rest, on one shared TLS context",
          "[lab][probe]") {
    Blackhole blackhole;
    boost::asio::io_context io;
    HttpsProber prober(io);
    std::vector<std::optional<ProbeResult>> results(20);
    std::vector<double> finished_at_ms(20, 0.0);
    const auto started = std::chrono::steady_clock::now();
    for (int index = 0; index < 20; ++index) {
        auto site = nginx_site(shared_nginx_lab());
        site.name = "site-" + std::to_string(index);
        if (index % 5 == 4) {  // four of them never answer
            site.port = blackhole.port();
            site.timeout = 3s;  // long enough that a loaded CI machine cannot blur "parallel" and "serial"
        }
        prober.probe(site, [&, index](ProbeResult result) {
            CHECK_FALSE(results[index].has_value());
            results[index] = std::move(result);
            finished_at_ms[index] =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
        });
    }
    io.run();
    const double round_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    double slowest_healthy_ms = 0;
    for (int index = 0; index < 20; ++index) {
        REQUIRE(results[index]);
        if (index % 5 == 4) {
            CHECK(results[index]->probe_class == ProbeClass::timeout);
        } else {
            CHECK(results[index]->probe_class == ProbeClass::healthy);
            slowest_healthy_ms = std::max(slowest_healthy_ms, finished_at_ms[index]);
        }
    }
    std::cout << "probe round: 16 healthy nginx sites done after " << slowest_healthy_ms
              << " ms, all 20 (4 blackholes, 3 s timeout) after " << round_ms << " ms\n";
    CHECK(slowest_healthy_ms < 2500.0);  // not serialised behind the blackholes (they end at 3 s)
    CHECK(round_ms < 6000.0);            // the four timeouts ran in parallel (serial: 12 s)
    CHECK(prober.cached_contexts() == 1);  // twenty sites, one client certificate: one context
}

TEST_CASE("a body over 64 KiB is capped without failing the probe", "[lab][probe]") {
    const auto big = probe_once(nginx_site(shared_nginx_lab(), "/big"));
    CHECK(big.probe_class == ProbeClass::healthy);
    CHECK(big.status == 200);
    CHECK_FALSE(big.error);
}

TEST_CASE("only the capped part of nginx's own 403 page is searched for the rejection pattern", "[lab][probe]") {
    // nginx's 403 page to a probe without a certificate (optional_no_ca and a rule) ends with
    // "nginx/1.22.1": the site's pattern finds it in the whole body, not in the first 8 bytes.
    auto site = nginx_site(shared_nginx_lab());
    site.port = shared_nginx_lab().optional_port();
    site.url = "https://localhost:" + std::to_string(site.port) + "/health";
    site.tls.client_cert.reset();
    site.rejection_pattern = "nginx/";
    const auto whole = probe_once(site);
    CHECK(whole.status == 403);
    CHECK(whole.probe_class == ProbeClass::client_cert_rejected);

    ProberOptions tiny;
    tiny.body_limit = 8;  // "<html>\r\n"
    const auto capped = probe_once(site, tiny);
    CHECK(capped.status == 403);
    CHECK(capped.probe_class == ProbeClass::unexpected_status);
}

TEST_CASE("the TLS context is built once per identity and replaced when its files change", "[lab][probe]") {
    boost::asio::io_context io;
    HttpsProber prober(io);
    int healthy = 0;
    const auto probe_round = [&](const SiteConfig& site) {
        prober.probe(site, [&](ProbeResult result) { healthy += result.probe_class == ProbeClass::healthy; });
        io.run();
        io.restart();
    };
    for (int round = 0; round < 3; ++round) probe_round(nginx_site(shared_nginx_lab()));
    CHECK(healthy == 3);
    CHECK(prober.cached_contexts() == 1);

    // The same certificate under another name is another identity; a rewritten file replaces
    // its identity's context instead of adding one.
    TempDir dir;
    const auto copy = dir.write("client.pem", read_text(shared_nginx_lab().file("client_cert")));
    auto other = nginx_site(shared_nginx_lab());
    other.tls.client_cert = PemClientCert{copy, shared_nginx_lab().file("client_key")};
    probe_round(other);
    CHECK(prober.cached_contexts() == 2);
    std::filesystem::last_write_time(copy, std::filesystem::last_write_time(copy) - std::chrono::hours(1));
    probe_round(other);
    CHECK(prober.cached_contexts() == 2);
    CHECK(healthy == 5);
}

TEST_CASE("cancelling a probe in flight still calls back exactly once", "[lab][probe]") {
    Blackhole blackhole;
    boost::asio::io_context io;
    HttpsProber prober(io);
    auto site = nginx_site(shared_nginx_lab());
    site.port = blackhole.port();
    int calls = 0;
    std::optional<ProbeResult> result;
    prober.probe(site, [&](ProbeResult probed) {
        ++calls;
        result = std::move(probed);
    });
    io.run_for(200ms);
    CHECK(calls == 0);
    prober.cancel_all();
    io.run();
    CHECK(calls == 1);
    REQUIRE(result);
    CHECK(result->probe_class == ProbeClass::timeout);
    REQUIRE(result->error);
    CHECK_THAT(*result->error, Catch::Contains("cancelled"));
}
