#pragma once
// certheal_iis_lab_server (tests/lab/iis_lab_server.cpp) as a child process for lab tests: a
// peer that asks for the client certificate the way IIS does (TLS 1.2 renegotiation after the
// request) and answers 403 with IIS's detailed error pages (403.7/.13/.16/.17 and their Error
// Codes), and on TLS 1.3 the way Windows Server 2022 and 2025 do. POSIX only; the Windows
// build of the unit tests sees an empty header.
#if defined(__unix__) || defined(__APPLE__)

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "support/lab.hpp"  // AnnouncedServer
#include "support/pki.hpp"  // certheal::test::TempDir

namespace certheal::test {

enum class IisRequestMode {
    renegotiate,  // first handshake without CertificateRequest, then a renegotiation (IIS on TLS 1.2)
    handshake,    // CertificateRequest in the first handshake
};

enum class IisCaNames {
    trusted,  // the CertificateRequest names the subjects of the bundle's certificates
    empty,    // it names no CA
};

struct IisLabServerOptions {
    std::filesystem::path cert;
    std::filesystem::path key;
    std::filesystem::path client_ca_bundle;  // read again by the server for every connection
    IisRequestMode request_mode = IisRequestMode::renegotiate;
    std::string tls_version = "1.2";  // "1.2", "1.3" or "1.2-1.3"
    IisCaNames ca_names = IisCaNames::trusted;
    // e.g. "403.13": the answer to every certificate ("403.13-offline", "403.16-chaining", ...)
    std::optional<std::string> forced_answer;
    // With renegotiate and TLS 1.3: "reset" (Windows Server 2022) or "500.0" (Server 2025).
    std::optional<std::string> tls13_renegotiation;
    bool offer_resumption = false;  // a session cache and tickets; the log says resumed=yes|no
};

// One line of the server's log: key=value pairs, values percent-decoded
// (tls, request_mode, initial_cert_request, renegotiated, client_cert, cert_received_via,
// verify, answer, path, ...; see the header of tests/lab/iis_lab_server.cpp).
using IisLogLine = std::map<std::string, std::string>;

class IisLabServer {
public:
    // Starts the server and waits for its port; throws std::runtime_error with what the
    // server said when it does not start.
    explicit IisLabServer(const IisLabServerOptions& options);
    IisLabServer(const IisLabServer&) = delete;
    IisLabServer& operator=(const IisLabServer&) = delete;

    std::uint16_t port() const noexcept { return server_->port(); }
    std::string url(const std::string& path = "/health") const;  // https://localhost:PORT/health
    std::filesystem::path log_file() const { return dir_.path() / "requests.log"; }

    // The log as it is now. The server writes a connection's line once the connection ended,
    // which can be a moment after the client has its answer: see wait_for_log_lines.
    std::vector<IisLogLine> log_lines() const;
    // The log once it has at least `count` lines, or as it is after `limit`.
    std::vector<IisLogLine> wait_for_log_lines(std::size_t count,
                                               std::chrono::milliseconds limit = std::chrono::seconds(10)) const;

private:
    TempDir dir_;                            // its log
    std::optional<AnnouncedServer> server_;  // stopped first, then the log goes
};

std::filesystem::path iis_lab_server_binary();  // from the CERTHEAL_IIS_LAB_SERVER definition

}  // namespace certheal::test

#endif
