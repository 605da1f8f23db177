// certheal's prober against the IIS-like lab server: every client-certificate class with the
// server behaviour that produces it, the way a real IIS host shows it (TLS 1.2, certificate
// asked for by renegotiation after the request, 403.7/.13/.16/.17 detailed error pages with
// their Error Codes; on TLS 1.3 the reset of Windows Server 2022 and the 500.0 of 2025).
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/probe/https_prober.hpp"
#include "support/files.hpp"
#include "support/iis_lab.hpp"
#include "support/lab.hpp"
#include "support/probe_once.hpp"
#include "support/pki.hpp"
#include "support/shared_pki.hpp"

using namespace certheal;
using namespace certheal::test;
using namespace std::chrono_literals;

namespace {

const std::string kGoodCa = "CN=certheal test CA,O=certheal tests";
const std::string kOtherCa = "CN=unrelated test CA,O=certheal tests";

// An IIS-like server whose client-certificate trust is the bundle in its own folder.
struct IisHost {
    TempDir dir;
    std::filesystem::path bundle;
    std::optional<IisLabServer> server;

    explicit IisHost(const std::filesystem::path& trusted_ca, IisRequestMode mode = IisRequestMode::renegotiate,
                     std::string tls = "1.2", IisCaNames names = IisCaNames::trusted,
                     std::optional<std::string> forced_answer = std::nullopt,
                     std::optional<std::string> tls13_renegotiation = std::nullopt, bool offer_resumption = false) {
        bundle = dir.write("trusted-client-ca.pem", read_text(trusted_ca));
        server.emplace(IisLabServerOptions{shared_pki().server_cert, shared_pki().server_key, bundle, mode, std::move(tls), names,
                                           std::move(forced_answer), std::move(tls13_renegotiation),
                                           offer_resumption});
    }

    SiteConfig site(std::optional<ClientCert> client_cert = PemClientCert{shared_pki().client_cert, shared_pki().client_key}) const {
        SiteConfig config;
        config.name = "iis";
        config.host = "localhost";
        config.port = server->port();
        config.target = "/health";
        config.url = server->url();
        config.connect_to = "127.0.0.1";
        config.tls.ca_file = shared_pki().ca_cert;
        config.tls.client_cert = std::move(client_cert);
        config.timeout = 10s;
        return config;
    }
};

}  // namespace

TEST_CASE("IIS in sync: the certificate goes out during the renegotiation and the site is healthy",
          "[lab][iis][probe]") {
    IisHost host(shared_pki().ca_cert);
    const auto result = probe_once(host.site());
    INFO(result.error.value_or("(no error)"));
    CHECK(result.probe_class == ProbeClass::healthy);
    CHECK(result.status == 200);
    CHECK(result.client_ca_names == std::vector<std::string>{kGoodCa});
    CHECK(result.client_issuer_listed == true);

    const auto log = host.server->wait_for_log_lines(1);
    REQUIRE(log.size() == 1);
    CHECK(log[0].at("initial_cert_request") == "no");
    CHECK(log[0].at("renegotiated") == "yes");
    CHECK(log[0].at("cert_received_via") == "renegotiation");
    CHECK(log[0].at("answer") == "200");
}

TEST_CASE("IIS whose trust is out of sync answers certheal's certificate with 403.16: client_cert_rejected, "
          "and the CA list says why",
          "[lab][iis][probe]") {
    IisHost host(shared_pki().other_ca_cert);
    const auto result = probe_once(host.site());
    INFO(result.error.value_or("(no error)"));
    CHECK(result.probe_class == ProbeClass::client_cert_rejected);
    CHECK(result.status == 403);
    CHECK(result.iis_substatus == 16);
    CHECK(result.client_ca_names == std::vector<std::string>{kOtherCa});
    CHECK(result.client_issuer_listed == false);
    REQUIRE(result.error);
    CHECK_THAT(*result.error, Catch::Contains("answered 403.16"));
    CHECK_THAT(*result.error, Catch::Contains("The server accepts client certificates issued by " + kOtherCa +
                                              " only, but certheal's certificate was issued by " + kGoodCa +
                                              ": the server's client-certificate trust is out of sync"));
    CHECK(host.server->wait_for_log_lines(1).at(0).at("cert_received_via") == "renegotiation");
}

TEST_CASE("IIS answers a probe without a client certificate with 403.7: client_cert_rejected", "[lab][iis][probe]") {
    IisHost host(shared_pki().ca_cert);
    const auto result = probe_once(host.site(std::nullopt));
    CHECK(result.probe_class == ProbeClass::client_cert_rejected);
    CHECK(result.iis_substatus == 7);
    CHECK(result.client_ca_names == std::vector<std::string>{kGoodCa});
    CHECK_FALSE(result.client_issuer_listed);  // no certificate of certheal's to compare
}

TEST_CASE("IIS answers an expired client certificate with 403.17: client_cert_invalid, said from the certificate",
          "[lab][iis][probe]") {
    IisHost host(shared_pki().ca_cert);
    const auto result = probe_once(host.site(PemClientCert{shared_pki().expired_client_cert, shared_pki().expired_client_key}));
    CHECK(result.probe_class == ProbeClass::client_cert_invalid);
    CHECK(result.iis_substatus == 17);
    REQUIRE(result.error);
    CHECK_THAT(*result.error, Catch::Contains("certheal's client certificate for site iis (CN=certheal-probe-expired"));
    CHECK_THAT(*result.error, Catch::Contains("expired on"));
    CHECK_THAT(*result.error, Catch::Contains("Renew the certificate"));
    CHECK(host.server->wait_for_log_lines(1).at(0).at("answer") == "403.17");
}

TEST_CASE("a client certificate that is not valid yet is client_cert_invalid whatever the server answered",
          "[lab][iis][probe]") {
    IisHost host(shared_pki().other_ca_cert);  // the server would say 403.16 for the trust as well
    const auto result =
        probe_once(host.site(PemClientCert{shared_pki().not_yet_valid_client_cert, shared_pki().not_yet_valid_client_key}));
    CHECK(result.probe_class == ProbeClass::client_cert_invalid);
    REQUIRE(result.error);
    CHECK_THAT(*result.error, Catch::Contains("is not valid before"));
}

TEST_CASE("IIS answers a revoked client certificate with 403.13: client_cert_invalid", "[lab][iis][probe]") {
    IisHost host(shared_pki().ca_cert, IisRequestMode::renegotiate, "1.2", IisCaNames::trusted, "403.13");
    const auto result = probe_once(host.site());
    CHECK(result.probe_class == ProbeClass::client_cert_invalid);
    CHECK(result.iis_substatus == 13);
    REQUIRE(result.error);
    CHECK_THAT(*result.error, Catch::Contains("refused certheal's client certificate itself"));
}

TEST_CASE("IIS that names no CA (empty list) and distrusts certheal's CA is still client_cert_rejected",
          "[lab][iis][probe]") {
    IisHost host(shared_pki().other_ca_cert, IisRequestMode::renegotiate, "1.2", IisCaNames::empty);
    const auto result = probe_once(host.site());
    CHECK(result.probe_class == ProbeClass::client_cert_rejected);
    CHECK(result.iis_substatus == 16);
    CHECK(result.client_ca_names == std::vector<std::string>{});
    CHECK_FALSE(result.client_issuer_listed);
}

TEST_CASE("IIS asking in the handshake (TLS 1.2 and 1.3) gives the same classes", "[lab][iis][probe]") {
    for (const std::string tls : {"1.2", "1.3"}) {
        INFO("TLS " << tls);
        IisHost in_sync(shared_pki().ca_cert, IisRequestMode::handshake, tls);
        const auto healthy = probe_once(in_sync.site());
        CHECK(healthy.probe_class == ProbeClass::healthy);
        CHECK(healthy.client_issuer_listed == true);
        CHECK(in_sync.server->wait_for_log_lines(1).at(0).at("initial_cert_request") == "yes");

        IisHost out_of_sync(shared_pki().other_ca_cert, IisRequestMode::handshake, tls);
        const auto rejected = probe_once(out_of_sync.site());
        CHECK(rejected.probe_class == ProbeClass::client_cert_rejected);
        CHECK(rejected.iis_substatus == 16);
        CHECK(rejected.client_ca_names == std::vector<std::string>{kOtherCa});
        CHECK(rejected.client_issuer_listed == false);
    }
}

TEST_CASE("re-syncing the IIS trust (the CA appended to its bundle) makes the next probe healthy",
          "[lab][iis][probe]") {
    IisHost host(shared_pki().other_ca_cert);
    CHECK(probe_once(host.site()).probe_class == ProbeClass::client_cert_rejected);
    std::ofstream(host.bundle, std::ios::app) << read_text(shared_pki().ca_cert);
    const auto after = probe_once(host.site());
    CHECK(after.probe_class == ProbeClass::healthy);
    CHECK(after.client_ca_names == std::vector<std::string>{kOtherCa, kGoodCa});
    CHECK(after.client_issuer_listed == true);
}

TEST_CASE("IIS's detailed error pages: the Error Code tells the causes of one 403.16 or 403.13 apart",
          "[lab][iis][probe]") {
    // Which certificate certheal presents. OpenSSL sends certheal's certificate with the CA that
    // issued it when that CA is in its trust (ca_file): then the server sees a chain that ends
    // in a root; a certificate of the unrelated CA goes alone and its issuer cannot be found.
    enum class Client { ours, of_unrelated_ca };
    struct Row {
        const char* mode;
        std::filesystem::path trusted_ca;
        std::optional<std::string> forced_answer;
        Client client;
        ProbeClass expected;
        int substatus;
        const char* win32;
        const char* verify;  // what the lab server's OpenSSL said of the chain
        const char* said;
    };
    const Row rows[] = {
        {"403.16, a chain that ends in a root the host does not trust", shared_pki().other_ca_cert, std::nullopt, Client::ours,
         ProbeClass::client_cert_rejected, 16, "0x800B0109 CERT_E_UNTRUSTEDROOT",
         "self-signed_certificate_in_certificate_chain", "did not accept the client certificate"},
        {"403.16, an issuer the host cannot find (a missing intermediate, or a CA it does not know)", shared_pki().ca_cert,
         std::nullopt, Client::of_unrelated_ca, ProbeClass::client_cert_rejected, 16, "0x800B010A CERT_E_CHAINING",
         "unable_to_get_local_issuer_certificate", "did not accept the client certificate"},
        {"403.16, the missing intermediate (forced)", shared_pki().ca_cert, "403.16-chaining", Client::ours,
         ProbeClass::client_cert_rejected, 16, "0x800B010A CERT_E_CHAINING", "ok", "did not accept the client certificate"},
        {"403.13, revoked", shared_pki().ca_cert, "403.13", Client::ours, ProbeClass::client_cert_invalid, 13,
         "0x80092010 CRYPT_E_REVOKED", "ok", "refused certheal's client certificate itself"},
        {"403.13, the revocation server offline", shared_pki().ca_cert, "403.13-offline", Client::ours,
         ProbeClass::revocation_unavailable, 13, "0x80092013 CRYPT_E_REVOCATION_OFFLINE", "ok",
         "Restarting IIS or re-syncing the trust does not help"},
        {"403.17, expired (forced)", shared_pki().ca_cert, "403.17", Client::ours, ProbeClass::client_cert_invalid, 17,
         "0x800B0101 CERT_E_EXPIRED", "ok", "refused certheal's client certificate itself"},
    };
    for (const auto& row : rows) {
        INFO(row.mode);
        IisHost host(row.trusted_ca, IisRequestMode::renegotiate, "1.2", IisCaNames::trusted, row.forced_answer);
        const auto client = row.client == Client::ours ? PemClientCert{shared_pki().client_cert, shared_pki().client_key}
                                                       : PemClientCert{shared_pki().other_client_cert, shared_pki().other_client_key};
        const auto result = probe_once(host.site(client));
        INFO(result.error.value_or("(no error)"));
        const auto log = host.server->wait_for_log_lines(1);
        REQUIRE(log.size() == 1);
        CHECK(log[0].at("verify") == row.verify);
        CHECK(to_string(result.probe_class) == to_string(row.expected));
        CHECK(result.status == 403);
        CHECK(result.iis_substatus == row.substatus);
        CHECK(result.iis_win32_status == std::optional<std::string>(row.win32));
        REQUIRE(result.error);
        CHECK_THAT(*result.error, Catch::Contains(row.said));
        CHECK_THAT(*result.error, Catch::Contains(std::string("(Error Code ") + row.win32 + ")"));
    }
}

TEST_CASE("IIS answers a probe without a certificate with 403.7 and 0x80070005", "[lab][iis][probe]") {
    IisHost host(shared_pki().ca_cert);
    const auto result = probe_once(host.site(std::nullopt));
    CHECK(result.probe_class == ProbeClass::client_cert_rejected);
    CHECK(result.iis_substatus == 7);
    CHECK(result.iis_win32_status == "0x80070005 E_ACCESSDENIED");
}

TEST_CASE("IIS on TLS 1.3 with a certificate required after the request: client_cert_negotiation_unsupported, "
          "proved by renegotiation on TLS 1.2",
          "[lab][iis][probe]") {
    struct Row {
        const char* windows;
        const char* tls13_renegotiation;
        std::optional<int> first_status;
        const char* first_answer;  // the lab's log of the TLS 1.3 connection
        const char* said;
    };
    const Row rows[] = {
        {"Windows Server 2022", "reset", std::nullopt, "reset",
         "it reset the connection right after the request (Windows Server 2022)"},
        {"Windows Server 2025", "500.0", 500, "500.0",
         "it answered 500.0 with 0x80070032 ERROR_NOT_SUPPORTED (Windows Server 2025 and later)"},
    };
    for (const auto& row : rows) {
        INFO(row.windows);
        IisHost host(shared_pki().ca_cert, IisRequestMode::renegotiate, "1.2-1.3", IisCaNames::trusted, std::nullopt,
                     row.tls13_renegotiation);
        const auto result = probe_once(host.site());
        INFO(result.error.value_or("(no error)"));
        CHECK(result.probe_class == ProbeClass::client_cert_negotiation_unsupported);
        CHECK(result.status == row.first_status);
        if (row.first_status) {
            CHECK(result.iis_substatus == 0);
            CHECK(result.iis_win32_status == "0x80070032 ERROR_NOT_SUPPORTED");
        }
        CHECK(result.client_ca_names == std::vector<std::string>{kGoodCa});  // from the TLS 1.2 renegotiation
        REQUIRE(result.error);
        CHECK_THAT(*result.error, Catch::Contains(row.said));
        CHECK_THAT(*result.error, Catch::Contains("over TLS 1.2 it asked for the certificate by renegotiation and "
                                                  "answered 200"));
        CHECK_THAT(*result.error, Catch::Contains("Negotiate Client Certificate"));
        CHECK_THAT(*result.error, Catch::Contains("disable TLS 1.3"));

        const auto log = host.server->wait_for_log_lines(2);
        REQUIRE(log.size() == 2);
        CHECK(log[0].at("tls") == "TLSv1.3");
        CHECK(log[0].at("answer") == row.first_answer);
        CHECK(log[0].at("initial_cert_request") == "no");
        CHECK(log[1].at("tls") == "TLSv1.2");
        CHECK(log[1].at("renegotiated") == "yes");
        CHECK(log[1].at("answer") == "200");
    }
}

TEST_CASE("IIS on TLS 1.3 whose trust is also out of sync: the TLS 1.2 probe's 403.16 comes first, with the TLS 1.3 "
          "finding",
          "[lab][iis][probe]") {
    IisHost host(shared_pki().other_ca_cert, IisRequestMode::renegotiate, "1.2-1.3", IisCaNames::trusted, std::nullopt,
                 "reset");
    const auto result = probe_once(host.site());
    INFO(result.error.value_or("(no error)"));
    CHECK(result.probe_class == ProbeClass::client_cert_rejected);
    CHECK(result.status == 403);
    CHECK(result.iis_substatus == 16);
    REQUIRE(result.error);
    CHECK_THAT(*result.error, Catch::Contains("Over TLS 1.3 the site fails before that: it reset the connection"));
}

TEST_CASE("a TLS 1.3-only site that resets after the request stays connect_failed, with what the TLS 1.2 probe met",
          "[lab][iis][probe]") {
    IisHost host(shared_pki().ca_cert, IisRequestMode::renegotiate, "1.3", IisCaNames::trusted, std::nullopt, "reset");
    const auto result = probe_once(host.site());
    INFO(result.error.value_or("(no error)"));
    CHECK(result.probe_class == ProbeClass::connect_failed);
    REQUIRE(result.error);
    CHECK_THAT(*result.error, Catch::Contains("A second probe limited to TLS 1.2 did not get further (tls_error"));
    CHECK(host.server->wait_for_log_lines(2).size() == 2);
}

TEST_CASE("a probe never resumes a TLS session, from a server that offers resumption to clients that ask",
          "[lab][iis][probe]") {
    for (const std::string tls : {"1.2", "1.3"}) {
        INFO("TLS " << tls);
        IisHost host(shared_pki().ca_cert, IisRequestMode::handshake, tls, IisCaNames::trusted, std::nullopt, std::nullopt,
                     true);
        // The lab server resumes a client that offers its session: curl, which keeps one
        // between two URLs of one command line.
        const auto curl = run_command({"curl", "-s", "-o", "/dev/null", "-o", "/dev/null", "--max-time", "20",
                                       tls == "1.3" ? "--tlsv1.3" : "--tls-max", tls == "1.3" ? "--tlsv1.3" : "1.2",
                                       "--cacert", shared_pki().ca_cert.string(), "--cert", shared_pki().client_cert.string(),
                                       "--key", shared_pki().client_key.string(), "--resolve",
                                       "localhost:" + std::to_string(host.server->port()) + ":127.0.0.1",
                                       host.server->url(), host.server->url()});
        const auto curl_log = host.server->wait_for_log_lines(2);
        REQUIRE(curl_log.size() == 2);
        CHECK(curl_log[1].at("resumed") == "yes");

        // One prober, one TLS context, three probes: three full handshakes.
        boost::asio::io_context io;
        HttpsProber prober(io);
        std::vector<ProbeResult> results;
        for (int probe = 0; probe < 3; ++probe) {
            prober.probe(host.site(), [&](ProbeResult result) { results.push_back(std::move(result)); });
            io.run();
            io.restart();
        }
        REQUIRE(results.size() == 3);
        const auto log = host.server->wait_for_log_lines(5);
        REQUIRE(log.size() == 5);
        for (std::size_t line = 2; line < 5; ++line) {
            INFO("probe " << line - 1);
            CHECK(results[line - 2].probe_class == ProbeClass::healthy);
            CHECK(log[line].at("resumed") == "no");
            CHECK(log[line].at("initial_cert_request") == "yes");  // the server checked the certificate each time
        }
    }
}
