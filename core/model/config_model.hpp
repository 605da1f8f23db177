#pragma once
// The configuration as value types: what the JSON of docs/configuration.md means once parsed,
// validated and merged with its defaults (config/ does that). The core runs on these and never
// on JSON.
// Nothing here holds a secret: a PKCS#12 password is only ever referenced (environment
// variable or file), read when needed.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/base/clock.hpp"
#include "core/base/duration.hpp"
#include "core/model/probe_result.hpp"
#include "core/model/trust_cause.hpp"

namespace certheal {

struct PemClientCert {
    std::filesystem::path cert_file;
    std::filesystem::path key_file;
};

struct PfxClientCert {
    std::filesystem::path pfx_file;
    std::optional<std::string> password_env;             // name of the variable, not its value
    std::optional<std::filesystem::path> password_file;  // file holding the password
};

// A certificate of a LocalMachine system store (Windows), found again at every probe: by its
// SHA-1 thumbprint, or by a selector (issuer, subject, EKU) that takes the valid match with the
// latest NotBefore, so that a renewed certificate takes over by itself. Its private key stays
// where it lives (a CNG or CryptoAPI provider) and signs the handshake there.
struct StoreClientCert {
    std::string store = "My";               // LocalMachine\<store>, canonical spelling
    std::optional<std::string> thumbprint;  // SHA-1, 40 upper-case hex digits
    std::optional<std::string> issuer;      // distinguished names as written ("CN=Contoso Issuing CA, DC=contoso")
    std::optional<std::string> subject;
    std::optional<std::string> eku;         // "clientAuth" or a dotted OID, as written
};

using ClientCert = std::variant<PemClientCert, PfxClientCert, StoreClientCert>;

struct TlsSettings {
    bool verify = true;
    std::optional<std::filesystem::path> ca_file;  // none: the system trust store
    std::optional<ClientCert> client_cert;
};

struct SiteConfig {
    std::string name;
    std::string url;     // as written
    std::string host;    // from the URL: SNI, Host header, certificate name check
    std::uint16_t port = 443;
    std::string target = "/";  // path and query
    std::optional<std::string> connect_to;  // address to connect to instead of `host`
    TlsSettings tls;
    std::vector<int> expect_status{200};
    std::string rejection_pattern{kDefaultRejectionPattern};  // a regular expression (PCRE2), searched in a 403's body
    Duration interval = std::chrono::seconds(30);
    Duration timeout = std::chrono::seconds(10);
    int failure_threshold = 3;
    int success_threshold = 1;
    std::set<ProbeClass> symptoms{ProbeClass::client_cert_rejected, ProbeClass::connect_failed};
};

struct RunStep {
    std::filesystem::path program;  // absolute
    std::vector<std::string> args;
};
struct StopServiceStep {
    std::string service;
    bool with_dependents = false;
};
struct StartServiceStep {
    std::string service;
};
struct RestoreDependentsStep {};
struct VerifyStep {
    int attempts = 5;
    Duration delay = std::chrono::seconds(10);
};
// Where trust_ca puts the CA: a Windows LocalMachine system store ("Root", "CA", ...), or a
// PEM bundle that the web server reads.
struct CertificateStoreTarget {
    std::string store;  // canonical spelling, one of known_certificate_stores()
};
struct PemBundleTarget {
    std::filesystem::path bundle;
};
// "store": "auto" (Windows): the store Schannel trusts for each affected site's binding, as the
// host trust diagnosis finds it (core/repair/host_trust_steps says which store and why).
struct AutoStoreTarget {};
// The IISCA step of the field report, done by certheal: make the server trust the CA that
// issues the client certificates again.
struct TrustCaStep {
    std::filesystem::path certificate;  // PEM or DER, one or more CA certificates
    std::variant<CertificateStoreTarget, PemBundleTarget, AutoStoreTarget> target;
};
// KB 2802568: moves the certificates that are not self-signed out of LocalMachine\Root.
struct FixRootStoreStep {
    std::string move_to = "CA";
};
// Puts the CA certificates of a file that are not self-signed (the intermediates) into
// LocalMachine\CA, so that Windows can build the client certificates' chains (0x800B010A).
struct AddIntermediatesStep {
    std::filesystem::path certificate;  // PEM or DER
};
// Writes Schannel's client-authentication values under
// HKLM\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL (a host-wide setting: only
// with remediation.allow_host_settings). Unset: left as it is. At least one is set.
struct SetSchannelStep {
    std::optional<std::uint32_t> client_auth_trust_mode;  // 0 machine, 1 exclusive root, 2 exclusive CA
    std::optional<bool> send_trusted_issuer_list;
};

using StepAction = std::variant<RunStep, StopServiceStep, StartServiceStep, RestoreDependentsStep, VerifyStep,
                                TrustCaStep, FixRootStoreStep, AddIntermediatesStep, SetSchannelStep>;

struct Step {
    StepAction action;
    Duration timeout = std::chrono::seconds(60);
};

std::string_view step_kind(const StepAction& action) noexcept;  // "run", "stop_service", ...

// When a stage of the repair ladder applies to an incident. An empty list means any value.
struct StageCondition {
    std::set<ProbeClass> classes;  // the class of the probe that asked for the repair
    std::set<TrustCause> causes;   // the cause the host trust diagnosis named (Windows)
    bool empty() const noexcept { return classes.empty() && causes.empty(); }
};

// One rung of the repair ladder: its steps, then a verify of the incident's sites built in.
struct RepairStage {
    std::string name;
    std::vector<Step> steps;
    StageCondition when;
    std::optional<VerifyStep> verify;  // none: the remediation's `verify`
};

struct RemediationConfig {
    bool enabled = true;
    bool dry_run = false;
    Duration cooldown = std::chrono::minutes(10);
    int max_attempts = 3;
    Duration attempt_window = std::chrono::hours(1);
    Duration circuit_reset_after = std::chrono::hours(6);
    // The repair as one list of steps, as before ladders: run as they are, with no verify of
    // their own beyond the verify steps they list. Empty when `stages` is used.
    std::vector<Step> steps;
    // The repair ladder, least disruptive stage first; empty when `steps` is used.
    std::vector<RepairStage> stages;
    // The verify every stage ends with unless it names its own: a verify step's defaults.
    VerifyStep verify;
    // set_schannel changes how every site of the host trusts client certificates: refused
    // unless an admin allows host-wide settings here.
    bool allow_host_settings = false;
    // How sentences name the web server certheal repairs: "IIS" on Windows, "the web server"
    // elsewhere. Not a config key: the host's ConfigContext sets it, so the core stays portable.
    std::string web_server = "the web server";
};

// A loopback address and port to listen on, as service.status_listen names it.
struct ListenAddress {
    std::string address;     // "127.0.0.1" or "::1" ("localhost" is read as 127.0.0.1)
    std::uint16_t port = 0;  // 0 in tests: any free port
    std::string text() const;  // "127.0.0.1:9464", "[::1]:9464"
};

struct ServiceSettings {
    std::filesystem::path state_dir;          // journal.jsonl and state.json live here
    std::optional<ListenAddress> status_listen;  // loopback only
    bool allow_insecure_config_acl = false;   // run a config non-administrators can write
    // Probes in flight at once; the others wait their turn, their timeouts not yet running.
    std::size_t max_concurrent_probes = 64;
    // Where certheal.prom goes for windows_exporter's / node_exporter's textfile collector.
    std::optional<std::filesystem::path> textfile_dir;
};

struct Config {
    std::filesystem::path source;  // the file it was read from
    ServiceSettings service;
    std::vector<SiteConfig> sites;
    RemediationConfig remediation;
};

// The Windows LocalMachine system stores a step may name (canonical spelling).
std::span<const std::string_view> known_certificate_stores() noexcept;

}  // namespace certheal
