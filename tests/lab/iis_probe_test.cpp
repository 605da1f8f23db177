// certheal's prober against the IIS-like lab server: every client-certificate class with the
// server behaviour that produces it, the way a real IIS host shows it (TLS 1.2, certificate
// asked for by renegotiation after the request, 403.7/.13/.16/.17 in the body).
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "config/config.hpp"
#include "core/probe/https_prober.hpp"
#include "support/iis_lab.hpp"
#include "support/pki.hpp"

using namespace certheal;
using namespace certheal::test;
using namespace std::chrono_literals;

namespace {

const Pki& pki() {
    static const Pki shared;
    return shared;
}

const std::string kGoodCa = "CN=certheal test CA,O=certheal tests";
const std::string kOtherCa = "CN=unrelated test CA,O=certheal tests";

std::string read_text(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// An IIS-like server whose client-certificate trust is the bundle in its own folder.
struct IisHost {
    TempDir dir;
    std::filesystem::path bundle;
    std::optional<IisLabServer> server;

    explicit IisHost(const std::filesystem::path& trusted_ca, IisRequestMode mode = IisRequestMode::renegotiate,
                     std::string tls = "1.2", IisCaNames names = IisCaNames::trusted,
                     std::optional<std::string> forced_answer = std::nullopt) {
        bundle = dir.write("trusted-client-ca.pem", read_text(trusted_ca));
        server.emplace(IisLabServerOptions{pki().server_cert, pki().server_key, bundle, mode, std::move(tls), names,
                                           std::move(forced_answer)});
    }

    SiteConfig site(std::optional<ClientCert> client_cert = PemClientCert{pki().client_cert, pki().client_key}) const {
        SiteConfig config;
        config.name = "iis";
        config.host = "localhost";
        config.port = server->port();
        config.target = "/health";
        config.url = server->url();
        config.connect_to = "127.0.0.1";
        config.tls.ca_file = pki().ca_cert;
        config.tls.client_cert = std::move(client_cert);
        config.timeout = 10s;
        return config;
    }
};

ProbeResult probe_once(const SiteConfig& site) {
    boost::asio::io_context io;
    HttpsProber prober(io);
    std::optional<ProbeResult> result;
    prober.probe(site, [&](ProbeResult probed) { result = std::move(probed); });
    io.run();
    REQUIRE(result);
    return *result;
}

}  // namespace

TEST_CASE("IIS in sync: the certificate goes out during the renegotiation and the site is healthy",
          "[lab][iis][probe]") {
    IisHost host(pki().ca_cert);
    const auto result = probe_once(host.site());
    INFO(result.error.value_or("(no error)"));
    CHECK(result.cls == ProbeClass::healthy);
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
    IisHost host(pki().other_ca_cert);
    const auto result = probe_once(host.site());
    INFO(result.error.value_or("(no error)"));
    CHECK(result.cls == ProbeClass::client_cert_rejected);
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
    IisHost host(pki().ca_cert);
    const auto result = probe_once(host.site(std::nullopt));
    CHECK(result.cls == ProbeClass::client_cert_rejected);
    CHECK(result.iis_substatus == 7);
    CHECK(result.client_ca_names == std::vector<std::string>{kGoodCa});
    CHECK_FALSE(result.client_issuer_listed);  // no certificate of certheal's to compare
}

TEST_CASE("IIS answers an expired client certificate with 403.17: client_cert_invalid, said from the certificate",
          "[lab][iis][probe]") {
    IisHost host(pki().ca_cert);
    const auto result = probe_once(host.site(PemClientCert{pki().expired_client_cert, pki().expired_client_key}));
    CHECK(result.cls == ProbeClass::client_cert_invalid);
    CHECK(result.iis_substatus == 17);
    REQUIRE(result.error);
    CHECK_THAT(*result.error, Catch::Contains("certheal's client certificate for site iis (CN=certheal-probe-expired"));
    CHECK_THAT(*result.error, Catch::Contains("expired on"));
    CHECK_THAT(*result.error, Catch::Contains("Renew the certificate"));
    CHECK(host.server->wait_for_log_lines(1).at(0).at("answer") == "403.17");
}

TEST_CASE("a client certificate that is not valid yet is client_cert_invalid whatever the server answered",
          "[lab][iis][probe]") {
    IisHost host(pki().other_ca_cert);  // the server would say 403.16 for the trust as well
    const auto result =
        probe_once(host.site(PemClientCert{pki().not_yet_valid_client_cert, pki().not_yet_valid_client_key}));
    CHECK(result.cls == ProbeClass::client_cert_invalid);
    REQUIRE(result.error);
    CHECK_THAT(*result.error, Catch::Contains("is not valid before"));
}

TEST_CASE("IIS answers a revoked client certificate with 403.13: client_cert_invalid", "[lab][iis][probe]") {
    IisHost host(pki().ca_cert, IisRequestMode::renegotiate, "1.2", IisCaNames::trusted, "403.13");
    const auto result = probe_once(host.site());
    CHECK(result.cls == ProbeClass::client_cert_invalid);
    CHECK(result.iis_substatus == 13);
    REQUIRE(result.error);
    CHECK_THAT(*result.error, Catch::Contains("refused certheal's client certificate itself"));
}

TEST_CASE("IIS that names no CA (empty list) and distrusts certheal's CA is still client_cert_rejected",
          "[lab][iis][probe]") {
    IisHost host(pki().other_ca_cert, IisRequestMode::renegotiate, "1.2", IisCaNames::empty);
    const auto result = probe_once(host.site());
    CHECK(result.cls == ProbeClass::client_cert_rejected);
    CHECK(result.iis_substatus == 16);
    CHECK(result.client_ca_names == std::vector<std::string>{});
    CHECK_FALSE(result.client_issuer_listed);
}

TEST_CASE("IIS asking in the handshake (TLS 1.2 and 1.3) gives the same classes", "[lab][iis][probe]") {
    for (const std::string tls : {"1.2", "1.3"}) {
        INFO("TLS " << tls);
        IisHost in_sync(pki().ca_cert, IisRequestMode::handshake, tls);
        const auto healthy = probe_once(in_sync.site());
        CHECK(healthy.cls == ProbeClass::healthy);
        CHECK(healthy.client_issuer_listed == true);
        CHECK(in_sync.server->wait_for_log_lines(1).at(0).at("initial_cert_request") == "yes");

        IisHost out_of_sync(pki().other_ca_cert, IisRequestMode::handshake, tls);
        const auto rejected = probe_once(out_of_sync.site());
        CHECK(rejected.cls == ProbeClass::client_cert_rejected);
        CHECK(rejected.iis_substatus == 16);
        CHECK(rejected.client_ca_names == std::vector<std::string>{kOtherCa});
        CHECK(rejected.client_issuer_listed == false);
    }
}

TEST_CASE("re-syncing the IIS trust (the CA appended to its bundle) makes the next probe healthy",
          "[lab][iis][probe]") {
    IisHost host(pki().other_ca_cert);
    CHECK(probe_once(host.site()).cls == ProbeClass::client_cert_rejected);
    std::ofstream(host.bundle, std::ios::app) << read_text(pki().ca_cert);
    const auto after = probe_once(host.site());
    CHECK(after.cls == ProbeClass::healthy);
    CHECK(after.client_ca_names == std::vector<std::string>{kOtherCa, kGoodCa});
    CHECK(after.client_issuer_listed == true);
}
