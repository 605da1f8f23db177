// The prober against sites that answer in broken or hostile ways (tests/lab/hostile_server.py
// and openssl s_server): whatever a site sends, the probe ends with the right class and never
// crashes, hangs or calls a protocol error a failed connection (a default symptom).
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/probe/https_prober.hpp"
#include "support/lab.hpp"
#include "support/probe_once.hpp"

using namespace certheal;
using namespace certheal::test;
using namespace std::chrono_literals;

namespace {

SiteConfig site_on(std::uint16_t port) {
    const auto& lab = shared_nginx_lab();
    SiteConfig site;
    site.name = "hostile";
    site.host = "localhost";
    site.port = port;
    site.target = "/health";
    site.url = "https://localhost:" + std::to_string(port) + "/health";
    site.connect_to = "127.0.0.1";
    site.tls.ca_file = lab.file("server_ca");
    site.tls.client_cert = PemClientCert{lab.file("client_cert"), lab.file("client_key")};
    site.timeout = 10s;
    return site;
}

AnnouncedServer hostile(const std::string& mode, const std::vector<std::string>& extra = {}) {
    return AnnouncedServer(
        hostile_server_command(mode, shared_nginx_lab().file("server_cert"), shared_nginx_lab().file("server_key"), extra));
}

}  // namespace

TEST_CASE("a 403 page over 64 KiB with a Content-Length is read up to the cap and its 403.7 found",
          "[lab][probe][hostile]") {
    const auto server = hostile("forbidden-page", {"--size", "200000", "--at", "300"});
    const auto result = probe_once(site_on(server.port()));
    CHECK(result.status == 403);
    CHECK(result.iis_substatus == 7);
    CHECK(result.probe_class == ProbeClass::client_cert_rejected);
}

TEST_CASE("the same page sent chunked is classified the same", "[lab][probe][hostile]") {
    const auto server = hostile("forbidden-chunked", {"--size", "200000", "--at", "300"});
    const auto result = probe_once(site_on(server.port()));
    CHECK(result.status == 403);
    CHECK(result.probe_class == ProbeClass::client_cert_rejected);
}

TEST_CASE("a greedy rejection pattern over a 40 KB page neither crashes nor misses", "[lab][probe][hostile]") {
    const auto server = hostile("forbidden-page", {"--size", "41000", "--at", "40960", "--marker", "Forbidden"});
    auto site = site_on(server.port());
    site.rejection_pattern = ".*Forbidden";
    const auto result = probe_once(site);
    CHECK(result.status == 403);
    CHECK(result.probe_class == ProbeClass::client_cert_rejected);
}

TEST_CASE("a header line of 1 MB is a protocol error after the handshake, not a failed connection",
          "[lab][probe][hostile]") {
    const auto server = hostile("huge-header", {"--size", "1048576"});
    const auto result = probe_once(site_on(server.port()));
    CHECK(result.probe_class == ProbeClass::unexpected_status);
    REQUIRE(result.error);
    CHECK_THAT(*result.error, Catch::Contains("not a valid HTTP answer") && Catch::Contains("header"));
}

TEST_CASE("bytes that are not HTTP after the handshake are a protocol error, not a failed connection",
          "[lab][probe][hostile]") {
    const auto server = hostile("not-http");
    const auto result = probe_once(site_on(server.port()));
    CHECK(result.probe_class == ProbeClass::unexpected_status);
    REQUIRE(result.error);
    CHECK_THAT(*result.error, Catch::Contains("not a valid HTTP answer"));
}

TEST_CASE("an SSH banner where TLS was expected is a TLS error, not a failed connection", "[lab][probe][hostile]") {
    const auto server = hostile("banner");
    const auto result = probe_once(site_on(server.port()));
    CHECK(result.probe_class == ProbeClass::tls_error);
    REQUIRE(result.error);
    CHECK_THAT(*result.error, Catch::Contains("does not speak TLS"));
}

TEST_CASE("TLS 1.3: a server that refuses the certificate and closes is read for its alert every time",
          "[lab][probe][hostile]") {
    // s_server sends unknown_ca after the TLS 1.3 handshake and closes; certheal's request
    // write can fail before it has read the alert. Repeated so a race cannot hide.
    const auto& lab = shared_nginx_lab();
    for (int attempt = 0; attempt < 20; ++attempt) {
        INFO("attempt " << attempt);
        SServer server(SServerOptions{lab.file("server_cert"), lab.file("server_key"), lab.file("good_ca"), false, {}});
        auto site = site_on(server.port());
        site.target = "/";
        site.url = "https://localhost:" + std::to_string(server.port()) + "/";
        site.tls.client_cert = PemClientCert{lab.file("stranger_cert"), lab.file("stranger_key")};
        const auto result = probe_once(site);
        CHECK(result.probe_class == ProbeClass::client_cert_rejected);
        CHECK(result.tls_alert == std::optional<std::string>("unknown_ca"));
    }
}

TEST_CASE("interim answers (100 Continue, 103 Early Hints) are skipped and the final 403.16 classified",
          "[lab][probe][hostile]") {
    const auto server =
        hostile("forbidden-page", {"--interim", "2", "--size", "2000", "--title",
                                   "IIS 10.0 Detailed Error - 403.16 - Forbidden", "--marker",
                                   "<h3>HTTP Error 403.16 - Forbidden</h3>", "--at", "100"});
    const auto result = probe_once(site_on(server.port()));
    CHECK(result.status == 403);
    CHECK(result.iis_substatus == 16);
    CHECK(result.probe_class == ProbeClass::client_cert_rejected);
}

TEST_CASE("a server that sends interim answers without end is not HTTP, and the probe ends", "[lab][probe][hostile]") {
    const auto server = hostile("forbidden-page", {"--interim", "1000", "--size", "100"});
    const auto result = probe_once(site_on(server.port()));
    CHECK(result.probe_class == ProbeClass::unexpected_status);
    CHECK_FALSE(result.status);
    REQUIRE(result.error);
    CHECK_THAT(*result.error, Catch::Contains("more than 16 interim (1xx) answers"));
}

TEST_CASE("a TLS 1.3 server that asks for the certificate after the request gets it by post-handshake "
          "authentication",
          "[lab][probe][hostile]") {
    const auto server = hostile("post-handshake-auth", {"--client-ca", shared_nginx_lab().file("good_ca").string()});
    const auto result = probe_once(site_on(server.port()));
    CHECK(result.probe_class == ProbeClass::healthy);
    CHECK(result.status == 200);
    CHECK(result.client_ca_names.has_value());  // a CertificateRequest came, after the request
}

TEST_CASE("only the capped part of the body is searched for the rejection pattern", "[lab][probe][hostile]") {
    const auto server = hostile("forbidden-page", {"--size", "2000", "--at", "300", "--title", "Forbidden"});
    ProberOptions tiny;
    tiny.body_limit = 100;  // the 403.7 lies beyond the cap
    boost::asio::io_context io;
    HttpsProber prober(io, tiny);
    std::optional<ProbeResult> capped;
    prober.probe(site_on(server.port()), [&](ProbeResult result) { capped = std::move(result); });
    io.run();
    REQUIRE(capped);
    CHECK(capped->status == 403);
    CHECK(capped->probe_class == ProbeClass::unexpected_status);
    // The same page with the whole body: found.
    CHECK(probe_once(site_on(server.port())).probe_class == ProbeClass::client_cert_rejected);
}

TEST_CASE("a rejection pattern that goes over its limit on a page is said once per pattern, not on every probe",
          "[lab][probe][hostile]") {
    // 1000 spaces each start a new partial match of " .{0,100}Q": far more than 64 alive at once.
    const auto server = hostile("forbidden-page", {"--size", "2000", "--at", "1990", "--marker", "Q", "--title", "x"});
    auto site = site_on(server.port());
    site.rejection_pattern = " .{0,100}Q";
    boost::asio::io_context io;
    HttpsProber prober(io);
    std::vector<ProbeResult> results;
    for (int probe = 0; probe < 2; ++probe) {
        prober.probe(site, [&](ProbeResult result) { results.push_back(std::move(result)); });
        io.run();
        io.restart();
    }
    REQUIRE(results.size() == 2);
    for (const auto& result : results) CHECK(result.probe_class == ProbeClass::unexpected_status);  // not found
    REQUIRE(results[0].error);
    CHECK_THAT(*results[0].error, Catch::Contains("The rejection_pattern of site hostile (\" .{0,100}Q\") was given up "
                                                  "on this page: more than 64 partial matches of it were alive at once"));
    REQUIRE(results[1].error);
    CHECK_THAT(*results[1].error, !Catch::Contains("given up"));
}
