#pragma once
// Third-party TLS servers for lab tests: Apache httpd (mod_ssl), HAProxy, lighttpd and stunnel,
// each a real server started by the test on 127.0.0.1 with ephemeral ports, configured the way
// their admins require client certificates, answering as it really does. nginx is the NginxLab
// of support/lab.hpp (tests/lab/lab.sh). POSIX only; the Windows build sees an empty header.
//
// One process per server serves every mode it is tested in, each mode on two listeners: one
// that trusts certheal's issuer (the lab's good client CA, with its CRL) and one that trusts the
// unrelated "other" CA: the desynchronised trust. So a test file starts each server once.
#if defined(__unix__) || defined(__APPLE__)

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/model/config_model.hpp"
#include "core/model/probe_result.hpp"
#include "support/lab.hpp"
#include "support/pki.hpp"

namespace certheal::test {

// The lab PKI of `lab.sh pki` (the same as the nginx lab's): a server CA and its localhost
// certificate, the good client CA that issues certheal's client certificate (and an expired
// one, and a revoked one listed in good-ca.crl), and the unrelated other client CA.
class LabPki : public LabFiles {
public:
    LabPki();  // throws std::runtime_error with lab.sh's output on failure
    const std::filesystem::path& dir() const noexcept { return dir_.path(); }
    std::string value(const std::string& key) const override;  // a lab.env value, e.g. "good_ca"

private:
    TempDir dir_;
    std::map<std::string, std::string> values_;
};

// Whom a listener trusts for client certificates.
enum class Trust {
    issuer,    // the CA that issued certheal's client certificate (and its CRL, where the server has one)
    other_ca,  // only an unrelated CA: the trust is out of sync
};

// What certheal presents in a lab case.
enum class ClientCase { good, none, expired, revoked };

std::string to_string(Trust trust);
std::string to_string(ClientCase client);

// A server process with named listeners ("require/issuer", ...), stopped (SIGTERM, then SIGKILL)
// in the destructor.
class LabServer {
public:
    LabServer(const LabServer&) = delete;
    LabServer& operator=(const LabServer&) = delete;
    virtual ~LabServer();

    std::uint16_t port(const std::string& mode, Trust trust) const;
    const std::filesystem::path& dir() const noexcept { return dir_.path(); }
    std::string output() const;  // what the server printed (its log, for INFO)

protected:
    explicit LabServer(std::string name);
    // Picks a free port for each mode x trust, in this order.
    void allocate_ports(const std::vector<std::string>& modes);
    std::vector<std::pair<std::string, Trust>> listeners() const;
    // Starts argv, output to dir()/server.out, and waits until every listener accepts.
    void start(const std::vector<std::string>& argv);

    std::string name_;
    TempDir dir_;
    std::map<std::string, std::uint16_t> ports_;  // "mode/trust" -> port
    std::vector<std::string> modes_;
    int pid_ = -1;
};

// Apache httpd 2.4 with mod_ssl (apache2 -DFOREGROUND). Modes:
//   "require"            SSLVerifyClient require for the whole virtual host (TLS 1.3)
//   "location-tls12"     SSLVerifyClient require inside <Location /health>: renegotiation (TLS 1.2 only)
//   "location-tls13"     the same on TLS 1.3: post-handshake authentication
//   "optional-no-ca"     SSLVerifyClient optional_no_ca + Require expr %{SSL_CLIENT_VERIFY} == 'SUCCESS' (TLS 1.3)
// The "issuer" listeners check the good CA's CRL (SSLCARevocationFile, SSLCARevocationCheck chain).
class ApacheLab : public LabServer {
public:
    explicit ApacheLab(const LabPki& pki);
};

// HAProxy 2.6 (haproxy -db), answering 200 itself (http-request return). Modes:
//   "verify-required"    bind ... verify required crl-file (TLS 1.3)
//   "verify-optional"    bind ... verify optional ca-ignore-err all + http-request deny unless the
//                        certificate verified (TLS 1.3)
//   "verify-optional-all"  the same with crt-ignore-err all too
class HaproxyLab : public LabServer {
public:
    explicit HaproxyLab(const LabPki& pki);
};

// lighttpd 1.4 with mod_openssl (lighttpd -D). Mode "enforce": ssl.verifyclient.activate and
// .enforce, ssl.verifyclient.ca-crl-file (TLS 1.3).
class LighttpdLab : public LabServer {
public:
    explicit LighttpdLab(const LabPki& pki);
};

// stunnel 5 (foreground) in front of a minimal HTTP backend (exec per connection). Mode
// "require": verifyChain and requireCert, CRLfile (TLS 1.3).
class StunnelLab : public LabServer {
public:
    explicit StunnelLab(const LabPki& pki);
};

// What a real client (curl, which offers TLS 1.3 post-handshake authentication) gets from the
// server: the status and page, or the TLS alert the server sent.
struct WireAnswer {
    std::optional<int> status;
    std::string body;
    std::optional<std::string> alert;  // "unknown_ca", "certificate_required", ...
    std::string curl_error;            // curl's own message, when it failed
    int curl_exit_code = 0;
    std::string curl_output;           // everything curl printed, for a failure's message
    std::string summary() const;       // "400 <page text>" or "alert unknown_ca" or the curl error
};
WireAnswer curl_answer(const LabFiles& lab, std::uint16_t port, ClientCase client, const std::string& path = "/health");

// certheal's site for a lab listener, presenting `client`'s certificate (none for ClientCase::none).
SiteConfig lab_site(const LabFiles& lab, std::uint16_t port, ClientCase client, const std::string& path = "/health");

// One probe by certheal's HttpsProber, as the service makes it.
ProbeResult probe_lab_site(const SiteConfig& site);

}  // namespace certheal::test

#endif
