// The IIS-like lab server (tests/lab/iis_lab_server.cpp) against real clients: curl and
// openssl s_client. These tests pin the IIS behaviour that certheal's lab tests rely on.
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "support/files.hpp"
#include "support/iis_lab.hpp"
#include "support/lab.hpp"
#include "support/pki.hpp"

using namespace certheal::test;
using namespace std::chrono_literals;

namespace {

constexpr auto kClientLimitSeconds = "20";  // curl and s_client give up after this
constexpr auto kStatusMarker = "\ncurl_http_code=";
constexpr auto kServerCloseLimit = 5s;
// The server gives a silent client 5 s for its handshake; the next client must not wait that.
constexpr auto kNotHeldUpLimit = 3s;

const std::string kPage403_7 = "HTTP Error 403.7 - Forbidden";
const std::string kText403_7 =
    "The page you are attempting to access requires your browser to have a Secure Sockets Layer (SSL) client "
    "certificate that the Web server recognizes.";
const std::string kPage403_13 = "HTTP Error 403.13 - Forbidden";
const std::string kPage403_16 = "HTTP Error 403.16 - Forbidden";
const std::string kPage403_17 = "HTTP Error 403.17 - Forbidden";

struct ClientCert {
    std::filesystem::path cert, key;
};

struct CurlRequest {
    std::optional<ClientCert> cert;
    std::string tls_version = "1.2";  // "1.2": at most TLS 1.2; "1.3": TLS 1.3 only
    bool verbose = false;             // curl -v: the handshake messages go into the transcript
};

struct HttpAnswer {
    int status = 0;           // 0 when curl got no HTTP answer
    std::string status_line;  // "HTTP/1.1 403 Forbidden"
    std::string head;         // the status line and the headers
    std::string body;
    std::string transcript;   // all curl said, for failure messages
};

HttpAnswer curl_get(const IisLabServer& server, const std::filesystem::path& server_ca, const CurlRequest& request) {
    std::vector<std::string> argv{"curl", "-s", "-S", "-i", "--max-time", kClientLimitSeconds,
                                  "--cacert", server_ca.string(),
                                  "--resolve", "localhost:" + std::to_string(server.port()) + ":127.0.0.1",
                                  "-w", std::string(kStatusMarker) + "%{http_code}"};
    if (request.tls_version == "1.3") argv.push_back("--tlsv1.3");
    else argv.insert(argv.end(), {"--tls-max", "1.2"});
    if (request.cert) argv.insert(argv.end(), {"--cert", request.cert->cert.string(), "--key", request.cert->key.string()});
    if (request.verbose) argv.push_back("-v");
    argv.push_back(server.url());

    HttpAnswer answer;
    answer.transcript = run_command(argv).output;
    const auto marker = answer.transcript.rfind(kStatusMarker);
    if (marker == std::string::npos) return answer;
    answer.status = std::stoi(answer.transcript.substr(marker + std::string(kStatusMarker).size()));
    const auto start = answer.transcript.find("HTTP/1.1 ");
    const auto head_end = answer.transcript.find("\r\n\r\n", start);
    if (start == std::string::npos || head_end == std::string::npos) return answer;
    answer.head = answer.transcript.substr(start, head_end - start);
    answer.status_line = answer.head.substr(0, answer.head.find("\r\n"));
    if (!request.verbose) answer.body = answer.transcript.substr(head_end + 4, marker - head_end - 4);
    return answer;
}

// GET /health through `openssl s_client` with `extra_args`; its whole output.
std::string s_client_get(const IisLabServer& server, const std::filesystem::path& server_ca,
                         const std::vector<std::string>& extra_args) {
    // The request goes in on stdin; -ign_eof keeps s_client reading until the server closes.
    std::vector<std::string> argv{
        "sh", "-c",
        "printf 'GET /health HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n' | timeout " + std::string(kClientLimitSeconds) +
            " openssl s_client -connect 127.0.0.1:" + std::to_string(server.port()) +
            " -servername localhost -ign_eof -CAfile \"$0\" \"$@\" 2>&1",
        server_ca.string()};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    return run_command(argv).output;
}

std::size_t count_of(const std::string& text, const std::string& part) {
    std::size_t count = 0;
    for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++count;
    return count;
}

// Replaces the bundle by a rename, as an administrator's tool would: the server reads either
// the old or the new file, never half of one.
void replace_bundle(const std::filesystem::path& bundle, const std::filesystem::path& source) {
    const auto temporary = bundle.string() + ".new";
    std::filesystem::copy_file(source, temporary, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::rename(temporary, bundle);
}

// A Pki, and a client CA bundle that holds its CA, for one test.
struct IisLab {
    Pki pki;
    std::filesystem::path bundle = pki.write("client-ca-bundle.pem", read_text(pki.ca_cert));

    IisLabServerOptions options() const {
        IisLabServerOptions options;
        options.cert = pki.server_cert;
        options.key = pki.server_key;
        options.client_ca_bundle = bundle;
        return options;
    }
    ClientCert good_client() const { return {pki.client_cert, pki.client_key}; }
    ClientCert other_ca_client() const { return {pki.other_client_cert, pki.other_client_key}; }
    ClientCert expired_client() const { return {pki.expired_client_cert, pki.expired_client_key}; }
    HttpAnswer get(const IisLabServer& server, CurlRequest request = {}) const {
        return curl_get(server, pki.ca_cert, request);
    }
};

// The last log line, once the server has written `count` lines.
IisLogLine log_line_number(const IisLabServer& server, std::size_t count) {
    const auto lines = server.wait_for_log_lines(count);
    REQUIRE(lines.size() >= count);
    return lines[count - 1];
}

class Socket {
public:
    explicit Socket(int fd) : fd_(fd) {}
    ~Socket() { close_now(); }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    int fd() const noexcept { return fd_; }
    void close_now() {
        if (fd_ >= 0) close(fd_);
        fd_ = -1;
    }

private:
    int fd_;
};

// Reads until the server closes the connection; false if it is still open after `limit`.
bool server_closes(int fd, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    char sink[1024];
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd entry{fd, POLLIN, 0};
        if (poll(&entry, 1, 50) <= 0) continue;
        const ssize_t got = recv(fd, sink, sizeof sink, 0);
        if (got <= 0) return true;
    }
    return false;
}

}  // namespace

TEST_CASE("the IIS-like server asks for the client certificate by a renegotiation after the request, as IIS does on TLS 1.2",
          "[lab][iis]") {
    const IisLab lab;
    const IisLabServer server(lab.options());

    const auto answer = lab.get(server, {lab.good_client(), "1.2", true});
    INFO(answer.transcript);
    CHECK(answer.status == 200);
    // What curl saw: a handshake without CertificateRequest, the request, then a HelloRequest
    // and a second handshake with the only CertificateRequest.
    const auto& transcript = answer.transcript;
    const auto hello_request = transcript.find("TLS handshake, Hello request (0)");
    const auto request_sent = transcript.find("> GET /health");
    REQUIRE(hello_request != std::string::npos);
    REQUIRE(request_sent != std::string::npos);
    CHECK(request_sent < hello_request);
    CHECK(count_of(transcript, "TLS handshake, Request CERT (13)") == 1);
    CHECK(transcript.find("TLS handshake, Request CERT (13)") > hello_request);
    CHECK(count_of(transcript, "(OUT), TLS handshake, Client hello (1)") == 2);

    // What the server saw.
    const auto line = log_line_number(server, 1);
    CHECK(line.at("tls") == "TLSv1.2");
    CHECK(line.at("request_mode") == "renegotiate");
    CHECK(line.at("initial_cert_request") == "no");
    CHECK(line.at("renegotiated") == "yes");
    CHECK(line.at("renegotiation_cert_request") == "yes");
    CHECK(line.at("cert_received_via") == "renegotiation");
    CHECK(line.at("client_cert") == "CN=certheal-probe,O=certheal tests");
    CHECK(line.at("verify") == "ok");
    CHECK(line.at("answer") == "200");
    CHECK(line.at("path") == "/health");
    CHECK(line.count("error") == 0);
}

TEST_CASE("openssl s_client sees the HelloRequest after its request and only then a CertificateRequest", "[lab][iis]") {
    const IisLab lab;
    const IisLabServer server(lab.options());

    const auto transcript = s_client_get(server, lab.pki.ca_cert,
                                         {"-tls1_2", "-msg", "-cert", lab.pki.client_cert.string(), "-key",
                                          lab.pki.client_key.string()});
    INFO(transcript);
    const auto hello_request = transcript.find("<<< TLS 1.2, Handshake [length 0004], HelloRequest");
    REQUIRE(hello_request != std::string::npos);
    CHECK(count_of(transcript, "], CertificateRequest") == 1);
    CHECK(transcript.find("], CertificateRequest") > hello_request);
    CHECK(count_of(transcript, ">>> TLS 1.2, Handshake [length") > 0);
    CHECK(count_of(transcript, "], ClientHello") == 2);
    CHECK(transcript.find("HTTP/1.1 200 OK") != std::string::npos);
    CHECK(log_line_number(server, 1).at("answer") == "200");
}

TEST_CASE("without a client certificate the IIS-like server answers 403 with the 403.7 page", "[lab][iis]") {
    const IisLab lab;
    const IisLabServer server(lab.options());

    const auto answer = lab.get(server);
    INFO(answer.transcript);
    CHECK(answer.status == 403);
    CHECK(answer.status_line == "HTTP/1.1 403 Forbidden");  // the sub-status is only in the body
    CHECK(answer.head.find("Server: Microsoft-IIS/10.0") != std::string::npos);
    CHECK(answer.head.find("Content-Type: text/html") != std::string::npos);
    CHECK(answer.head.find("Content-Length: " + std::to_string(answer.body.size())) != std::string::npos);
    CHECK(answer.head.find("Connection: close") != std::string::npos);
    CHECK(answer.body.find(kPage403_7) != std::string::npos);
    CHECK(answer.body.find(kText403_7) != std::string::npos);

    const auto line = log_line_number(server, 1);
    CHECK(line.at("renegotiated") == "yes");  // it asked, and nothing came
    CHECK(line.at("client_cert") == "none");
    CHECK(line.at("cert_received_via") == "none");
    CHECK(line.at("answer") == "403.7");
}

TEST_CASE("a client certificate from a CA outside the bundle gets the 403.16 page", "[lab][iis]") {
    const IisLab lab;
    const IisLabServer server(lab.options());

    const auto answer = lab.get(server, {lab.other_ca_client()});
    INFO(answer.transcript);
    CHECK(answer.status_line == "HTTP/1.1 403 Forbidden");
    CHECK(answer.body.find(kPage403_16) != std::string::npos);
    CHECK(answer.body.find("Your client certificate is either not trusted or is invalid.") != std::string::npos);

    const auto line = log_line_number(server, 1);
    CHECK(line.at("cert_received_via") == "renegotiation");
    CHECK(line.at("verify") == "unable_to_get_local_issuer_certificate");
    // Windows finds no issuer of the certificate: a partial chain, CERT_E_CHAINING.
    CHECK(line.at("answer") == "403.16-chaining");
    CHECK(answer.body.find("<tr><th>Error Code</th><td>&nbsp;&nbsp;&nbsp;0x800b010a</td></tr>") != std::string::npos);
    CHECK(answer.body.find("<title>IIS 10.0 Detailed Error - 403.16 - Forbidden</title>") != std::string::npos);
}

TEST_CASE("an expired client certificate from the trusted CA gets the 403.17 page", "[lab][iis]") {
    const IisLab lab;
    const IisLabServer server(lab.options());

    const auto answer = lab.get(server, {lab.expired_client()});
    INFO(answer.transcript);
    CHECK(answer.status_line == "HTTP/1.1 403 Forbidden");
    CHECK(answer.body.find(kPage403_17) != std::string::npos);
    CHECK(answer.body.find("Your client certificate has expired or is not yet valid.") != std::string::npos);

    const auto line = log_line_number(server, 1);
    CHECK(line.at("verify") == "certificate_has_expired");
    CHECK(line.at("answer") == "403.17");
}

TEST_CASE("a forced 403.13 answers every certificate as revoked, and a request without one still gets 403.7", "[lab][iis]") {
    const IisLab lab;
    auto options = lab.options();
    options.forced_answer = "403.13";
    const IisLabServer server(options);

    const auto revoked = lab.get(server, {lab.good_client()});
    INFO(revoked.transcript);
    CHECK(revoked.status_line == "HTTP/1.1 403 Forbidden");
    CHECK(revoked.body.find(kPage403_13) != std::string::npos);
    CHECK(revoked.body.find("The client certificate used for this request has been revoked by the Web server's "
                            "certificate authority.") != std::string::npos);
    CHECK(log_line_number(server, 1).at("answer") == "403.13");

    const auto without = lab.get(server);
    CHECK(without.body.find(kPage403_7) != std::string::npos);
    CHECK(log_line_number(server, 2).at("answer") == "403.7");
}

TEST_CASE("the next connection follows a change of the client CA bundle file, without a restart", "[lab][iis]") {
    const IisLab lab;
    const IisLabServer server(lab.options());

    CHECK(lab.get(server, {lab.good_client()}).status == 200);

    replace_bundle(lab.bundle, lab.pki.other_ca_cert);  // desynchronised
    const auto desynchronised = lab.get(server, {lab.good_client()});
    INFO(desynchronised.transcript);
    CHECK(desynchronised.body.find(kPage403_16) != std::string::npos);
    CHECK(lab.get(server, {lab.other_ca_client()}).status == 200);

    replace_bundle(lab.bundle, lab.pki.ca_cert);  // repaired
    CHECK(lab.get(server, {lab.good_client()}).status == 200);

    const auto lines = server.wait_for_log_lines(4);
    REQUIRE(lines.size() == 4);
    CHECK(lines[0].at("answer") == "200");
    CHECK(lines[1].at("answer") == "403.16");
    CHECK(lines[2].at("answer") == "200");
    CHECK(lines[3].at("answer") == "200");
}

TEST_CASE("the renegotiation's CertificateRequest names the bundle's CA, or no CA with --ca-names empty", "[lab][iis]") {
    // s_client prints the CA names of the first handshake only; -trace decodes every message.
    const IisLab lab;
    auto options = lab.options();
    std::string expected;
    SECTION("trusted") {
        options.ca_names = IisCaNames::trusted;
        expected = "DistinguishedName (len=";
    }
    SECTION("empty") {
        options.ca_names = IisCaNames::empty;
        expected = "certificate_authorities (len=0)";
    }
    const IisLabServer server(options);
    const auto transcript = s_client_get(server, lab.pki.ca_cert, {"-tls1_2", "-trace"});
    INFO(transcript);
    const auto hello_request = transcript.find("HelloRequest");
    const auto certificate_request = transcript.find("CertificateRequest");
    REQUIRE(hello_request != std::string::npos);
    REQUIRE(certificate_request != std::string::npos);
    CHECK(certificate_request > hello_request);
    const auto ca_names = transcript.find("certificate_authorities", certificate_request);
    REQUIRE(ca_names != std::string::npos);
    const auto named = transcript.find(expected, ca_names);
    REQUIRE(named != std::string::npos);
    CHECK(named < transcript.find("ServerHelloDone", ca_names));
    if (options.ca_names == IisCaNames::trusted) {
        CHECK(transcript.find("CN = certheal test CA", named) < transcript.find("ServerHelloDone", ca_names));
    }
}

TEST_CASE("in handshake mode the first TLS 1.2 handshake names the bundle's CA, or no CA with --ca-names empty",
          "[lab][iis]") {
    const IisLab lab;
    auto options = lab.options();
    options.request_mode = IisRequestMode::handshake;
    std::string expected;
    SECTION("trusted") {
        options.ca_names = IisCaNames::trusted;
        expected = "Acceptable client certificate CA names\nO = certheal tests, CN = certheal test CA\n";
    }
    SECTION("empty") {
        options.ca_names = IisCaNames::empty;
        expected = "No client certificate CA names sent";
    }
    const IisLabServer server(options);
    const auto transcript = s_client_get(server, lab.pki.ca_cert, {"-tls1_2"});
    INFO(transcript);
    CHECK(transcript.find(expected) != std::string::npos);
}

TEST_CASE("in handshake mode the certificate is requested in the first TLS 1.2 handshake and nothing is renegotiated",
          "[lab][iis]") {
    const IisLab lab;
    auto options = lab.options();
    options.request_mode = IisRequestMode::handshake;
    const IisLabServer server(options);

    const auto answer = lab.get(server, {lab.good_client(), "1.2", true});
    INFO(answer.transcript);
    CHECK(answer.status == 200);
    CHECK(answer.transcript.find("Hello request (0)") == std::string::npos);
    CHECK(answer.transcript.find("Request CERT (13)") < answer.transcript.find("> GET /health"));

    const auto line = log_line_number(server, 1);
    CHECK(line.at("tls") == "TLSv1.2");
    CHECK(line.at("initial_cert_request") == "yes");
    CHECK(line.at("renegotiated") == "no");
    CHECK(line.at("cert_received_via") == "handshake");
    CHECK(line.at("answer") == "200");

    CHECK(lab.get(server, {lab.other_ca_client()}).body.find(kPage403_16) != std::string::npos);
    CHECK(lab.get(server).body.find(kPage403_7) != std::string::npos);
}

TEST_CASE("in handshake mode the certificate is requested in the TLS 1.3 handshake", "[lab][iis]") {
    const IisLab lab;
    auto options = lab.options();
    options.request_mode = IisRequestMode::handshake;
    options.tls_version = "1.3";
    const IisLabServer server(options);

    const auto answer = lab.get(server, {lab.good_client(), "1.3"});
    INFO(answer.transcript);
    CHECK(answer.status == 200);
    CHECK(answer.body == "ok");
    const auto line = log_line_number(server, 1);
    CHECK(line.at("tls") == "TLSv1.3");
    CHECK(line.at("initial_cert_request") == "yes");
    CHECK(line.at("renegotiated") == "no");
    CHECK(line.at("cert_received_via") == "handshake");

    CHECK(lab.get(server, {lab.expired_client(), "1.3"}).body.find(kPage403_17) != std::string::npos);
}

TEST_CASE("renegotiate mode refuses TLS 1.3 with a clear error", "[lab][iis]") {
    const IisLab lab;
    auto options = lab.options();
    options.tls_version = "1.3";
    CHECK_THROWS_WITH(IisLabServer(options), Catch::Contains("TLS 1.3 has no renegotiation"));
}

TEST_CASE("a client that sends garbage instead of a ClientHello does not stop the server from serving the next one",
          "[lab][iis]") {
    const IisLab lab;
    const IisLabServer server(lab.options());

    Socket garbage(connect_to_loopback(server.port()));
    REQUIRE(garbage.fd() >= 0);
    const std::string junk = "this is not a TLS ClientHello\r\n\r\n";
    REQUIRE(send(garbage.fd(), junk.data(), junk.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(junk.size()));
    CHECK(server_closes(garbage.fd(), kServerCloseLimit));

    CHECK(lab.get(server, {lab.good_client()}).status == 200);
    const auto lines = server.wait_for_log_lines(2);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].at("error").rfind("handshake_failed:", 0) == 0);
    CHECK(lines[0].at("answer") == "none");
    CHECK(lines[1].at("answer") == "200");
}

TEST_CASE("a client that connects and sends nothing does not hold up the next one", "[lab][iis]") {
    const IisLab lab;
    const IisLabServer server(lab.options());

    Socket silent(connect_to_loopback(server.port()));
    REQUIRE(silent.fd() >= 0);
    const auto started = std::chrono::steady_clock::now();
    CHECK(lab.get(server, {lab.good_client()}).status == 200);
    CHECK(std::chrono::steady_clock::now() - started < kNotHeldUpLimit);
    CHECK(log_line_number(server, 1).at("answer") == "200");

    silent.close_now();
    const auto line = log_line_number(server, 2);
    CHECK(line.at("error").rfind("handshake_failed:", 0) == 0);
}

TEST_CASE("a client that refuses the renegotiation gets OpenSSL's handshake_failure alert instead of an answer",
          "[lab][iis]") {
    // OpenSSL's server ends the connection on the client's no_renegotiation warning; the test
    // pins that, so that certheal's lab tests know what such a client meets here.
    const IisLab lab;
    const IisLabServer server(lab.options());

    const auto transcript = s_client_get(server, lab.pki.ca_cert, {"-tls1_2", "-msg", "-no_renegotiation"});
    INFO(transcript);
    CHECK(transcript.find("warning no_renegotiation") != std::string::npos);
    CHECK(transcript.find("fatal handshake_failure") != std::string::npos);
    CHECK(transcript.find("HTTP/1.1") == std::string::npos);
    const auto line = log_line_number(server, 1);
    CHECK(line.at("answer") == "none");
    CHECK(line.at("renegotiated") == "no");
    CHECK(line.at("error") == "renegotiation_failed:no_renegotiation");

    CHECK(lab.get(server, {lab.good_client()}).status == 200);
}

TEST_CASE("a malformed request line gets HTTP.sys's 400 and a log line with the error", "[lab][iis]") {
    const IisLab lab;
    const IisLabServer server(lab.options());

    const std::vector<std::string> argv{
        "sh", "-c",
        "printf 'NONSENSE\\r\\n\\r\\n' | timeout " + std::string(kClientLimitSeconds) +
            " openssl s_client -connect 127.0.0.1:" + std::to_string(server.port()) + " -tls1_2 -quiet -CAfile \"$0\" 2>&1",
        lab.pki.ca_cert.string()};
    const auto transcript = run_command(argv).output;
    INFO(transcript);
    CHECK(transcript.find("HTTP/1.1 400 Bad Request") != std::string::npos);
    const auto line = log_line_number(server, 1);
    CHECK(line.at("answer") == "400");
    CHECK(line.at("error") == "malformed_request");
    CHECK(line.at("renegotiated") == "no");  // no certificate is asked for a request it cannot serve

    CHECK(lab.get(server, {lab.good_client()}).status == 200);
}

TEST_CASE("lab.sh iis-up serves the lab PKI like IIS, iis-desync and iis-resync switch its trust, iis-down stops it",
          "[lab][iis]") {
    const TempDir dir;
    const ScopedEnv server_path("CERTHEAL_IIS_LAB_SERVER", iis_lab_server_binary().string());
    const auto lab_sh = [&](const std::string& command) {
        return run_command({lab_script().string(), command, dir.path().string()});
    };
    struct Down {
        std::function<CommandOutput(const std::string&)> run;
        ~Down() { run("iis-down"); }
    } down{lab_sh};

    const auto up = lab_sh("iis-up");
    INFO(up.output);
    REQUIRE(up.exit_code == 0);
    std::map<std::string, std::string> env;
    std::istringstream lines(read_text(dir.path() / "iis.env"));
    for (std::string line; std::getline(lines, line);) {
        const auto equals = line.find('=');
        if (equals != std::string::npos) env[line.substr(0, equals)] = line.substr(equals + 1);
    }
    REQUIRE(env.count("iis_port") == 1);
    const auto port = static_cast<std::uint16_t>(std::stoi(env.at("iis_port")));
    CHECK(env.at("iis_url") == "https://localhost:" + env.at("iis_port") + "/health");
    CHECK(env.at("iis_bundle") == (dir.path() / "iis-trusted-client-ca.pem").string());
    CHECK(env.at("iis_log") == (dir.path() / "iis.log").string());
    CHECK(up.output.find("iis_url=") != std::string::npos);

    // The lab's own clients, with curl as the scripts and the demo use it.
    const auto get = [&](const std::string& name) {
        std::vector<std::string> argv{"curl", "-s", "--max-time", kClientLimitSeconds, "--tls-max", "1.2",
                                      "--cacert", (dir.path() / "server-ca.pem").string(),
                                      "--resolve", "localhost:" + std::to_string(port) + ":127.0.0.1",
                                      "-w", std::string(kStatusMarker) + "%{http_code}"};
        if (!name.empty()) {
            argv.insert(argv.end(), {"--cert", (dir.path() / (name + ".pem")).string(), "--key",
                                     (dir.path() / (name + ".key")).string()});
        }
        argv.push_back(env.at("iis_url"));
        return run_command(argv).output;
    };
    CHECK(get("client").find("ok" + std::string(kStatusMarker) + "200") != std::string::npos);
    CHECK(get("").find(kPage403_7) != std::string::npos);
    CHECK(get("stranger").find(kPage403_16) != std::string::npos);
    CHECK(get("expired_client").find(kPage403_17) != std::string::npos);

    REQUIRE(lab_sh("iis-desync").exit_code == 0);
    CHECK(get("client").find(kPage403_16) != std::string::npos);
    REQUIRE(lab_sh("iis-resync").exit_code == 0);
    CHECK(get("client").find(kStatusMarker + std::string("200")) != std::string::npos);

    const auto log = read_text(env.at("iis_log"));
    CHECK(log.find("cert_received_via=renegotiation") != std::string::npos);

    REQUIRE(lab_sh("iis-down").exit_code == 0);
    CHECK_FALSE(wait_until_listening(port, 200ms));
}
