// Parsing and validating certheal.json. Validation keeps going after the first problem so
// an admin sees every error of a config in one run of `certheal check-config`.
#include "config/config.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>
#include <openssl/x509v3.h>

#include "core/base/bounded_input.hpp"
#include "core/probe/certificate_info.hpp"
#include "core/probe/rejection_pattern.hpp"
#include "core/probe/tls_files.hpp"
#include "core/base/text.hpp"

namespace certheal {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// ---------------------------------------------------------------- pointers and values

std::string pointer_token(std::string_view key) {
    std::string token;
    for (char c : key) {
        if (c == '~') token += "~0";
        else if (c == '/') token += "~1";
        else token += c;
    }
    return token;
}

std::string child(const std::string& pointer, std::string_view key) { return pointer + "/" + pointer_token(key); }
std::string child(const std::string& pointer, std::size_t index) { return pointer + "/" + std::to_string(index); }

// The offending value as JSON, shortened so one bad value cannot flood the output.
std::string show(const json& value) {
    std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
    constexpr std::size_t kMax = 120;
    if (text.size() > kMax) text = text.substr(0, kMax) + "...";
    return text;
}

std::string quote(std::string_view text) { return show(json(std::string(text))); }

std::string kind_of(const json& value) {
    switch (value.type()) {
        case json::value_t::null: return "null";
        case json::value_t::boolean: return "a boolean";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned: return "an integer";
        case json::value_t::number_float: return "a number";
        case json::value_t::string: return "a string";
        case json::value_t::array: return "an array";
        case json::value_t::object: return "an object";
        default: return "an unsupported value";
    }
}


// A Windows absolute path ("C:\\x", "C:/x", "\\\\server\\share", "\\\\?\\C:\\x") counts as
// absolute on every platform, so a Windows config can be checked on a Linux desk.
bool is_windows_absolute(std::string_view path) {
    const auto is_sep = [](char c) { return c == '\\' || c == '/'; };
    if (path.size() >= 3 && std::isalpha(static_cast<unsigned char>(path[0])) && path[1] == ':' && is_sep(path[2])) {
        return true;
    }
    return path.size() >= 3 && path[0] == '\\' && path[1] == '\\' && path[2] != '\\';
}

// And a POSIX absolute path counts on Windows, so the Linux examples check there too.
bool has_control_character(std::string_view text) {
    return std::any_of(text.begin(), text.end(), [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return byte < 0x20 || byte == 0x7f;
    });
}

bool looks_absolute(const std::string& path) {
    return fs::path(path).is_absolute() || is_windows_absolute(path) || (!path.empty() && path.front() == '/');
}

// ---------------------------------------------------------------- URLs

struct ParsedUrl {
    std::string host;
    std::uint16_t port = 443;
    std::string target = "/";
};

std::optional<std::uint16_t> parse_port(std::string_view text) {
    if (text.empty() || text.size() > 5) return std::nullopt;
    int value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + (c - '0');
    }
    if (value < 1 || value > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(value);
}

// Either the parts of an https URL or why it is not one.
std::variant<ParsedUrl, std::string> parse_https_url(const std::string& url) {
    const std::string shown = quote(url);
    const auto scheme_end = url.find("://");
    std::string scheme = scheme_end == std::string::npos ? std::string() : url.substr(0, scheme_end);
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (scheme != "https") return "must be an https URL, got " + shown;
    if (url.find_first_of(" \t\r\n") != std::string::npos) return "must not contain spaces, got " + shown;

    const std::string rest = url.substr(scheme_end + 3);
    const auto authority_end = rest.find_first_of("/?#");
    const std::string authority = rest.substr(0, authority_end);
    // Credentials in a URL would be a secret in the config; do not echo them back.
    if (authority.find('@') != std::string::npos) {
        return "must not contain a user name or password (certheal authenticates with a client certificate)";
    }
    ParsedUrl parsed;
    std::string port_text;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string::npos) return "has an unterminated IPv6 address, got " + shown;
        parsed.host = authority.substr(1, close - 1);
        const std::string after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return "has unexpected text after the IPv6 address, got " + shown;
            port_text = after.substr(1);
            if (port_text.empty()) return "has an invalid port, got " + shown;
        }
    } else {
        const auto colon = authority.rfind(':');
        parsed.host = authority.substr(0, colon);
        if (colon != std::string::npos) {
            port_text = authority.substr(colon + 1);
            if (port_text.empty()) return "has an invalid port, got " + shown;
        }
    }
    if (parsed.host.empty()) return "must include a host name, got " + shown;
    if (!port_text.empty()) {
        auto port = parse_port(port_text);
        if (!port) return "has an invalid port (1 to 65535), got " + shown;
        parsed.port = *port;
    }
    if (authority_end != std::string::npos) {
        std::string target = rest.substr(authority_end);
        target = target.substr(0, target.find('#'));  // fragments never reach the server
        if (target.empty() || target.front() != '/') target.insert(0, "/");
        parsed.target = target;
    }
    return parsed;
}

// More probes in flight than this only queue inside the kernel and the TLS libraries; it
// bounds what one config can make certheal open at once.
constexpr int kMaxConcurrentProbes = 4096;

// A config of tens of thousands of sites stays far below this; a bigger file is not a config.
constexpr std::size_t kMaxConfigBytes = std::size_t{16} * 1024 * 1024;
// More issues than this are not read by anyone; the rest are counted.
constexpr std::size_t kMaxIssues = 200;

// ---------------------------------------------------------------- the validator

// Settings a site may take from `defaults`; every field is optional so that "not written"
// and "written" stay apart until the merge.
struct SiteSettings {
    std::optional<Duration> interval;
    std::optional<Duration> timeout;
    std::optional<int> failure_threshold;
    std::optional<int> success_threshold;
    std::optional<std::set<ProbeClass>> symptoms;
    std::optional<std::vector<int>> expect_status;
    std::optional<std::string> rejection_pattern;
    std::optional<std::string> connect_to;
    std::optional<bool> verify;
    std::optional<fs::path> ca_file;
    std::optional<ClientCert> client_cert;
};

const std::initializer_list<std::string_view> kSharedSiteKeys = {
    "interval", "timeout", "failure_threshold", "success_threshold", "symptoms",
    "expect_status", "rejection_pattern", "tls", "connect_to"};

class Validator {
public:
    Validator(fs::path base_dir, bool certificate_stores, TlsMaterialCache& material)
        : base_dir_(std::move(base_dir)), certificate_stores_(certificate_stores), material_(material) {}

    std::vector<ConfigIssue> issues;

    void error(const std::string& pointer, std::string message) {
        issues.push_back({ConfigIssue::Level::error, pointer, std::move(message)});
    }
    void warning(const std::string& pointer, std::string message) {
        issues.push_back({ConfigIssue::Level::warning, pointer, std::move(message)});
    }
    std::size_t error_count() const {
        return static_cast<std::size_t>(std::count_if(issues.begin(), issues.end(), [](const ConfigIssue& issue) {
            return issue.level == ConfigIssue::Level::error;
        }));
    }

    // True when `value` is an object; every key outside `allowed` is reported.
    bool object(const json& value, const std::string& pointer, std::initializer_list<std::string_view> allowed,
                std::initializer_list<std::string_view> also_allowed = {}) {
        if (!value.is_object()) {
            error(pointer, "must be an object, got " + kind_of(value) + " " + show(value));
            return false;
        }
        for (const auto& [key, ignored] : value.items()) {
            const auto known = [&key = key](std::initializer_list<std::string_view> list) {
                return std::find(list.begin(), list.end(), key) != list.end();
            };
            if (!known(allowed) && !known(also_allowed)) {
                std::string expected = join(allowed);
                if (also_allowed.size() > 0) expected += ", " + join(also_allowed);
                error(child(pointer, key), "is not a known key here (expected one of: " + expected + ")");
            }
        }
        return true;
    }

    // Names, URLs, paths and services end up in log lines, metric labels and command lines:
    // a line break or other control character there forges or breaks them, so it is refused
    // (only a rejection pattern, which is never printed raw, may hold one).
    std::optional<std::string> string(const json& value, const std::string& pointer,
                                      bool allow_control_characters = false) {
        if (!value.is_string()) {
            error(pointer, "must be a string, got " + kind_of(value) + " " + show(value));
            return std::nullopt;
        }
        auto text = value.get<std::string>();
        if (text.empty()) {
            error(pointer, "must not be empty");
            return std::nullopt;
        }
        if (!allow_control_characters && has_control_character(text)) {
            error(pointer, "must not contain control characters (line breaks, tabs, escapes), got " + show(value));
            return std::nullopt;
        }
        return text;
    }

    std::optional<bool> boolean(const json& value, const std::string& pointer) {
        if (!value.is_boolean()) {
            error(pointer, "must be true or false, got " + show(value));
            return std::nullopt;
        }
        return value.get<bool>();
    }

    std::optional<int> integer(const json& value, const std::string& pointer, int minimum,
                               int maximum = std::numeric_limits<int>::max()) {
        if (!value.is_number_integer()) {
            error(pointer, "must be a whole number, got " + kind_of(value) + " " + show(value));
            return std::nullopt;
        }
        // nlohmann stores every non-negative integer as unsigned, which may exceed int64.
        const bool huge = value.is_number_unsigned() &&
                          value.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<int>::max());
        const std::int64_t number = huge ? std::int64_t{std::numeric_limits<int>::max()} + 1 : value.get<std::int64_t>();
        const bool too_small = number < minimum;
        const bool too_large = number > maximum;
        if (too_small || too_large) {
            if (maximum == std::numeric_limits<int>::max()) {
                error(pointer, "must be at least " + std::to_string(minimum) + ", got " + show(value));
            } else {
                error(pointer, "must be between " + std::to_string(minimum) + " and " + std::to_string(maximum) +
                                   ", got " + show(value));
            }
            return std::nullopt;
        }
        return value.get<int>();
    }

    std::optional<Duration> duration(const json& value, const std::string& pointer) {
        if (!value.is_string()) {
            error(pointer, "must be a duration string with a unit (ms, s, m, h) such as \"30s\" or \"1m30s\", got " +
                               kind_of(value) + " " + show(value));
            return std::nullopt;
        }
        const auto parsed = parse_duration(value.get<std::string>());
        if (!parsed) {
            error(pointer, "must be a duration with a unit (ms, s, m, h) such as \"30s\" or \"1m30s\", of at most " +
                               format_duration(kLongestDuration) + " (a hundred years), got " + show(value));
            return std::nullopt;
        }
        if (parsed->count() <= 0) {
            error(pointer, "must be longer than zero, got " + show(value));
            return std::nullopt;
        }
        return parsed;
    }

    // A file path resolved against the config file's folder.
    std::optional<fs::path> file_path(const json& value, const std::string& pointer) {
        auto text = string(value, pointer);
        if (!text) return std::nullopt;
        return resolve(*text);
    }

    fs::path resolve(const std::string& text) const {
        if (looks_absolute(text)) return fs::path(text);
        return (base_dir_ / fs::path(text)).lexically_normal();
    }

    // ------------------------------------------------------------ sections

    SiteSettings site_settings(const json& object_value, const std::string& pointer) {
        SiteSettings settings;
        for (const auto& [key, value] : object_value.items()) {
            const std::string at = child(pointer, key);
            if (key == "interval") settings.interval = duration(value, at);
            else if (key == "timeout") settings.timeout = duration(value, at);
            else if (key == "failure_threshold") settings.failure_threshold = integer(value, at, 1);
            else if (key == "success_threshold") settings.success_threshold = integer(value, at, 1);
            else if (key == "symptoms") settings.symptoms = symptoms(value, at);
            else if (key == "expect_status") settings.expect_status = expect_status(value, at);
            else if (key == "rejection_pattern") settings.rejection_pattern = rejection_pattern(value, at);
            else if (key == "connect_to") settings.connect_to = string(value, at);
            else if (key == "tls") tls(value, at, settings);
        }
        return settings;
    }

    std::optional<std::set<ProbeClass>> symptoms(const json& value, const std::string& pointer) {
        if (!value.is_array()) {
            error(pointer, "must be an array of probe classes, got " + kind_of(value) + " " + show(value));
            return std::nullopt;
        }
        std::set<ProbeClass> classes;
        bool ok = true;
        for (std::size_t i = 0; i < value.size(); ++i) {
            const json& item = value[i];
            const auto cls = item.is_string() ? probe_class_from_string(item.get<std::string>()) : std::nullopt;
            if (!cls || *cls == ProbeClass::healthy) {
                error(child(pointer, i),
                      "must be one of client_cert_rejected, client_cert_invalid, connect_failed, timeout, tls_error, "
                      "unexpected_status; got " +
                          show(item));
                ok = false;
                continue;
            }
            classes.insert(*cls);
        }
        if (!ok) return std::nullopt;
        return classes;
    }

    std::optional<std::vector<int>> expect_status(const json& value, const std::string& pointer) {
        if (!value.is_array() || value.empty()) {
            error(pointer, "must be a non-empty array of HTTP status codes such as [200], got " + show(value));
            return std::nullopt;
        }
        std::vector<int> statuses;
        bool ok = true;
        for (std::size_t i = 0; i < value.size(); ++i) {
            const auto status = integer(value[i], child(pointer, i), 100, 599);
            if (!status) {
                ok = false;
                continue;
            }
            statuses.push_back(*status);
        }
        if (!ok) return std::nullopt;
        return statuses;
    }

    std::optional<std::string> rejection_pattern(const json& value, const std::string& pointer) {
        auto pattern = string(value, pointer, /*allow_control_characters=*/true);
        if (!pattern) return std::nullopt;
        // The same engine and bounds the prober uses.
        auto compiled = RejectionPattern::compile(*pattern);
        if (!compiled) {
            error(pointer, "must be a valid regular expression (Perl/ECMAScript syntax), got " + show(value) + ": " +
                               compiled.error().message);
            return std::nullopt;
        }
        return pattern;
    }

    void tls(const json& value, const std::string& pointer, SiteSettings& settings) {
        if (!object(value, pointer, {"verify", "ca_file", "client_cert"})) return;
        if (value.contains("verify")) {
            settings.verify = boolean(value["verify"], child(pointer, "verify"));
            if (settings.verify == false) {
                warning(child(pointer, "verify"),
                        "is false: certheal will not check the server's certificate, so a probe cannot tell the real "
                        "site from an impostor; set a ca_file instead if the server uses a private CA");
            }
        }
        if (value.contains("ca_file")) {
            const std::string at = child(pointer, "ca_file");
            settings.ca_file = file_path(value["ca_file"], at);
            if (settings.ca_file) {
                auto loaded = material_.certificates(*settings.ca_file);
                if (!loaded) error(at, "cannot be used: " + loaded.error().message);
            }
        }
        if (value.contains("client_cert")) {
            settings.client_cert = client_cert(value["client_cert"], child(pointer, "client_cert"));
        }
    }

    std::optional<ClientCert> client_cert(const json& value, const std::string& pointer) {
        if (!object(value, pointer, {"cert_file", "key_file", "pfx_file", "password_env", "password_file"})) {
            return std::nullopt;
        }
        const std::size_t errors_before = error_count();
        const bool pem = value.contains("cert_file") || value.contains("key_file");
        const bool pfx = value.contains("pfx_file");
        if (pem && pfx) {
            error(pointer, "must name either cert_file and key_file (PEM) or pfx_file (PKCS#12), not both");
            return std::nullopt;
        }
        if (!pem && !pfx) {
            error(pointer, "must name either cert_file and key_file (PEM) or pfx_file (PKCS#12)");
            return std::nullopt;
        }
        if (pem) {
            for (std::string_view key : {"password_env", "password_file"}) {
                if (value.contains(key)) {
                    error(child(pointer, key), "only applies to a pfx_file; a PEM key_file must not be encrypted");
                }
            }
            PemClientCert files;
            for (std::string_view key : {"cert_file", "key_file"}) {
                const std::string at = child(pointer, key);
                if (!value.contains(key)) {
                    error(pointer, "has " + std::string(key == "cert_file" ? "key_file" : "cert_file") +
                                       " but no " + std::string(key));
                    continue;
                }
                auto path = file_path(value[std::string(key)], at);
                if (path) (key == "cert_file" ? files.cert_file : files.key_file) = *path;
            }
            if (error_count() != errors_before) return std::nullopt;
            bool files_ok = true;
            if (auto certs = material_.certificates(files.cert_file); !certs) {
                error(child(pointer, "cert_file"), "cannot be used: " + certs.error().message);
                files_ok = false;
            }
            std::error_code ec;
            if (!fs::exists(files.key_file, ec)) {
                error(child(pointer, "key_file"), "cannot be used: key_file \"" + files.key_file.string() +
                                                      "\" does not exist");
                files_ok = false;
            }
            if (files_ok) {
                if (auto identity = material_.client_identity(files); !identity) {
                    error(pointer, "cannot be used: " + identity.error().message);
                }
            }
            return files;
        }

        PfxClientCert pkcs12;
        if (auto path = file_path(value["pfx_file"], child(pointer, "pfx_file"))) pkcs12.pfx_file = *path;
        if (value.contains("password_env") && value.contains("password_file")) {
            error(pointer, "must name either password_env or password_file, not both");
        }
        if (value.contains("password_env")) {
            pkcs12.password_env = string(value["password_env"], child(pointer, "password_env"));
        }
        if (value.contains("password_file")) {
            pkcs12.password_file = file_path(value["password_file"], child(pointer, "password_file"));
        }
        if (error_count() != errors_before) return std::nullopt;

        bool files_ok = true;
        std::error_code ec;
        if (!fs::exists(pkcs12.pfx_file, ec)) {
            error(child(pointer, "pfx_file"), "cannot be used: pfx_file \"" + pkcs12.pfx_file.string() + "\" does not exist");
            files_ok = false;
        }
        if (pkcs12.password_env && std::getenv(pkcs12.password_env->c_str()) == nullptr) {
            error(child(pointer, "password_env"), "names the environment variable " + *pkcs12.password_env +
                                                      ", which is not set for certheal, so the PKCS#12 file cannot be opened");
            files_ok = false;
        }
        if (pkcs12.password_file && !fs::exists(*pkcs12.password_file, ec)) {
            error(child(pointer, "password_file"),
                  "cannot be used: password_file \"" + pkcs12.password_file->string() + "\" does not exist");
            files_ok = false;
        }
        if (files_ok) {
            if (auto identity = material_.client_identity(pkcs12); !identity) {
                error(child(pointer, "pfx_file"), "cannot be used: " + identity.error().message);
            }
        }
        return pkcs12;
    }

    void service(const json& value, ServiceSettings& settings) {
        const std::string pointer = "/service";
        if (!object(value, pointer,
                    {"state_dir", "status_listen", "allow_insecure_config_acl", "max_concurrent_probes",
                     "textfile_dir"})) {
            return;
        }
        if (value.contains("textfile_dir")) {
            if (auto dir = file_path(value["textfile_dir"], child(pointer, "textfile_dir"))) settings.textfile_dir = *dir;
        }
        if (value.contains("max_concurrent_probes")) {
            if (auto most = integer(value["max_concurrent_probes"], child(pointer, "max_concurrent_probes"), 1,
                                    kMaxConcurrentProbes)) {
                settings.max_concurrent_probes = static_cast<std::size_t>(*most);
            }
        }
        if (value.contains("state_dir")) {
            if (auto dir = file_path(value["state_dir"], child(pointer, "state_dir"))) settings.state_dir = *dir;
        }
        if (value.contains("status_listen")) {
            const std::string at = child(pointer, "status_listen");
            if (auto listen = string(value["status_listen"], at)) {
                if (auto address = loopback_listen_address(*listen)) {
                    settings.status_listen = *address;
                } else {
                    error(at, "must be host:port on the loopback interface (127.0.0.1, [::1] or localhost) with a port "
                              "from 1 to 65535, got " + quote(*listen));
                }
            }
        }
        if (value.contains("allow_insecure_config_acl")) {
            if (auto allow = boolean(value["allow_insecure_config_acl"], child(pointer, "allow_insecure_config_acl"))) {
                settings.allow_insecure_config_acl = *allow;
            }
        }
    }

    // The one reading of status_listen: the status server gets the parsed address.
    static std::optional<ListenAddress> loopback_listen_address(const std::string& listen) {
        const auto colon = listen.rfind(':');
        if (colon == std::string::npos) return std::nullopt;
        const std::string host = listen.substr(0, colon);
        const auto port = parse_port(std::string_view(listen).substr(colon + 1));
        if (!port) return std::nullopt;
        if (host == "127.0.0.1" || host == "localhost") return ListenAddress{"127.0.0.1", *port};
        if (host == "[::1]" || host == "::1") return ListenAddress{"::1", *port};
        return std::nullopt;
    }

    void sites(const json& value, const SiteSettings& defaults, std::vector<SiteConfig>& out) {
        const std::string pointer = "/sites";
        if (!value.is_array()) {
            error(pointer, "must be an array of sites, got " + kind_of(value) + " " + show(value));
            return;
        }
        if (value.empty()) {
            error(pointer, "must list at least one site to probe");
            return;
        }
        std::map<std::string, std::size_t> names;
        for (std::size_t i = 0; i < value.size(); ++i) {
            const std::string at = child(pointer, i);
            const json& entry = value[i];
            if (!object(entry, at, {"name", "url"}, kSharedSiteKeys)) continue;
            SiteConfig site;
            if (!entry.contains("name")) {
                error(at, "needs a \"name\"");
            } else if (auto name = string(entry["name"], child(at, "name"))) {
                site.name = *name;
                if (auto [it, inserted] = names.emplace(*name, i); !inserted) {
                    error(child(at, "name"), "repeats the name " + quote(*name) + " of /sites/" +
                                                 std::to_string(it->second) + "; site names must be unique");
                }
            }
            if (!entry.contains("url")) {
                error(at, "needs a \"url\"");
            } else if (auto url = string(entry["url"], child(at, "url"))) {
                auto parsed = parse_https_url(*url);
                if (const auto* problem = std::get_if<std::string>(&parsed)) {
                    error(child(at, "url"), *problem);
                } else {
                    const auto& parts = std::get<ParsedUrl>(parsed);
                    site.url = *url;
                    site.host = parts.host;
                    site.port = parts.port;
                    site.target = parts.target;
                }
            }
            apply(defaults, site);
            apply(site_settings(entry, at), site);
            out.push_back(std::move(site));
        }
    }

    static void apply(const SiteSettings& settings, SiteConfig& site) {
        if (settings.interval) site.interval = *settings.interval;
        if (settings.timeout) site.timeout = *settings.timeout;
        if (settings.failure_threshold) site.failure_threshold = *settings.failure_threshold;
        if (settings.success_threshold) site.success_threshold = *settings.success_threshold;
        if (settings.symptoms) site.symptoms = *settings.symptoms;
        if (settings.expect_status) site.expect_status = *settings.expect_status;
        if (settings.rejection_pattern) site.rejection_pattern = *settings.rejection_pattern;
        if (settings.connect_to) site.connect_to = *settings.connect_to;
        if (settings.verify) site.tls.verify = *settings.verify;
        if (settings.ca_file) site.tls.ca_file = *settings.ca_file;
        if (settings.client_cert) site.tls.client_cert = *settings.client_cert;
    }

    void remediation(const json& value, RemediationConfig& out) {
        const std::string pointer = "/remediation";
        if (!object(value, pointer,
                    {"enabled", "dry_run", "cooldown", "max_attempts", "attempt_window", "circuit_reset_after", "steps"})) {
            return;
        }
        for (const auto& [key, item] : value.items()) {
            const std::string at = child(pointer, key);
            if (key == "enabled") {
                if (auto enabled = boolean(item, at)) out.enabled = *enabled;
            } else if (key == "dry_run") {
                if (auto dry_run = boolean(item, at)) out.dry_run = *dry_run;
            } else if (key == "cooldown") {
                if (auto d = duration(item, at)) out.cooldown = *d;
            } else if (key == "attempt_window") {
                if (auto d = duration(item, at)) out.attempt_window = *d;
            } else if (key == "circuit_reset_after") {
                if (auto d = duration(item, at)) out.circuit_reset_after = *d;
            } else if (key == "max_attempts") {
                if (auto attempts = integer(item, at, 1)) out.max_attempts = *attempts;
            }
        }
        const std::string steps_at = child(pointer, "steps");
        if (!value.contains("steps")) {
            if (out.enabled) error(pointer, "is enabled but has no \"steps\"; list the repair steps or set \"enabled\": false");
            return;
        }
        const json& steps = value["steps"];
        if (!steps.is_array()) {
            error(steps_at, "must be an array of steps, got " + kind_of(steps) + " " + show(steps));
            return;
        }
        if (steps.empty() && out.enabled) {
            error(steps_at, "is empty while remediation is enabled; list the repair steps or set \"enabled\": false");
        }
        for (std::size_t i = 0; i < steps.size(); ++i) {
            if (auto parsed = step(steps[i], child(steps_at, i))) out.steps.push_back(std::move(*parsed));
        }
    }

    std::optional<Step> step(const json& value, const std::string& pointer) {
        static const std::initializer_list<std::string_view> kKinds = {
            "run", "stop_service", "start_service", "restore_dependents", "verify", "trust_ca", "fix_root_store"};
        if (!value.is_object()) {
            error(pointer, "must be a step object such as {\"start_service\": \"W3SVC\"}, got " + kind_of(value) + " " +
                               show(value));
            return std::nullopt;
        }
        std::vector<std::string> kinds;
        for (const auto& [key, ignored] : value.items()) {
            if (std::find(kKinds.begin(), kKinds.end(), key) != kKinds.end()) kinds.push_back(key);
        }
        if (kinds.size() != 1) {
            const std::string found = join(kinds);
            error(pointer, "must have exactly one of " + join(kKinds) + "; " +
                               (kinds.empty() ? std::string("found none") : "found " + found));
            object(value, pointer, kKinds, {"timeout", "with_dependents"});
            return std::nullopt;
        }
        const std::string& kind = kinds.front();
        const std::string at = child(pointer, kind);
        const std::size_t errors_before = error_count();
        if (kind == "stop_service") {
            object(value, pointer, {"stop_service", "with_dependents", "timeout"});
        } else {
            object(value, pointer, {std::string_view(kind), "timeout"});
        }

        Step result;
        if (value.contains("timeout")) {
            if (auto timeout = duration(value["timeout"], child(pointer, "timeout"))) result.timeout = *timeout;
        }
        const json& body = value[kind];
        if (kind == "run") {
            result.action = run_step(body, at);
        } else if (kind == "stop_service") {
            StopServiceStep stop;
            if (auto name = string(body, at)) stop.service = *name;
            if (value.contains("with_dependents")) {
                if (auto with = boolean(value["with_dependents"], child(pointer, "with_dependents"))) {
                    stop.with_dependents = *with;
                }
            }
            result.action = stop;
        } else if (kind == "start_service") {
            StartServiceStep start;
            if (auto name = string(body, at)) start.service = *name;
            result.action = start;
        } else if (kind == "restore_dependents") {
            if (body != json(true)) error(at, "must be true, got " + show(body));
            result.action = RestoreDependentsStep{};
        } else if (kind == "trust_ca") {
            result.action = trust_ca_step(body, at);
        } else if (kind == "fix_root_store") {
            result.action = fix_root_store_step(body, at);
        } else {
            result.action = verify_step(body, at);
        }
        if (error_count() != errors_before) return std::nullopt;
        return result;
    }

    RunStep run_step(const json& body, const std::string& at) {
        RunStep run;
        if (!body.is_array() || body.empty()) {
            error(at, "must be a non-empty array: the program's absolute path, then its arguments; got " + show(body));
            return run;
        }
        for (std::size_t i = 0; i < body.size(); ++i) {
            const json& item = body[i];
            if (!item.is_string()) {
                error(child(at, i), "must be a string, got " + kind_of(item) + " " + show(item));
                continue;
            }
            if (i == 0) {
                const auto program = item.get<std::string>();
                if (has_control_character(program)) {
                    error(child(at, i), "must not contain control characters, got " + show(item));
                } else if (!looks_absolute(program)) {
                    error(child(at, i), "must be the program's absolute path (certheal runs no shell and searches no PATH), got " +
                                            show(item));
                } else {
                    program_problem(program, child(at, i));
                }
                run.program = program;
            } else {
                run.args.push_back(item.get<std::string>());
            }
        }
        return run;
    }

    // A program that is not there fails the repair when it is needed most: say so now. A path
    // of the other platform (C:\\... checked on Linux) cannot be checked here, only named.
    void program_problem(const std::string& program, const std::string& pointer) {
        const fs::path path(program);
        // On Windows a UNC path (\\server\share\x.exe) is this system's own, though some
        // runtimes' filesystem::path does not call it absolute.
        const bool windows_host = fs::path::preferred_separator == '\\';
        if (!path.is_absolute() && !(windows_host && is_windows_absolute(program))) {
            warning(pointer, "is not a path of this system, so check-config cannot tell whether " + quote(program) +
                                 " exists; check it on the host that runs the service");
            return;
        }
        std::error_code ec;
        const auto status = fs::status(path, ec);
        if (status.type() == fs::file_type::not_found) {
            error(pointer, "names a program that does not exist: " + quote(program));
        } else if (ec) {
            error(pointer, "names a program certheal cannot check (" + as_clause(ec.message()) + "): " + quote(program));
        } else if (status.type() != fs::file_type::regular) {
            error(pointer, "must name a program file, but " + quote(program) + " is not a regular file");
        }
    }

    // The canonical name of a LocalMachine store (Windows compares them case-insensitively).
    std::optional<std::string> certificate_store(const json& value, const std::string& pointer,
                                                 std::string_view step) {
        auto name = string(value, pointer);
        if (!name) return std::nullopt;
        const auto lower = [](std::string_view text) {
            std::string result(text);
            std::transform(result.begin(), result.end(), result.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            return result;
        };
        const auto stores = known_certificate_stores();
        const auto found = std::find_if(stores.begin(), stores.end(),
                                        [&](std::string_view known) { return lower(known) == lower(*name); });
        if (found == stores.end()) {
            error(pointer, "must name a LocalMachine certificate store (" + join(stores) + "), got " + show(value));
            return std::nullopt;
        }
        if (!certificate_stores_) {
            error(pointer, std::string(step) +
                               " applies to Windows certificate stores, and this host has none; on this platform name "
                               "the PEM file your web server reads with \"bundle\" instead");
            return std::nullopt;
        }
        return std::string(*found);
    }

    TrustCaStep trust_ca_step(const json& body, const std::string& at) {
        TrustCaStep trust;
        if (!object(body, at, {"certificate", "store", "bundle"})) return trust;
        if (!body.contains("certificate")) {
            error(at, "needs \"certificate\": the PEM or DER file of the CA the server must trust");
        } else if (auto file = file_path(body["certificate"], child(at, "certificate"))) {
            trust.certificate = *file;
            ca_certificates(*file, child(at, "certificate"));
        }
        const bool store = body.contains("store");
        const bool bundle = body.contains("bundle");
        if (store == bundle) {
            error(at, store ? "must name either \"store\" (a Windows LocalMachine store) or \"bundle\" (a PEM file), "
                              "not both"
                            : "must name where to add the CA: \"store\" (a Windows LocalMachine store such as Root) or "
                              "\"bundle\" (the PEM file the web server reads)");
        } else if (store) {
            if (auto name = certificate_store(body["store"], child(at, "store"), "trust_ca with \"store\"")) {
                trust.target = CertificateStoreTarget{*name};
            }
        } else if (auto path = file_path(body["bundle"], child(at, "bundle"))) {
            trust.target = PemBundleTarget{*path};
        }
        return trust;
    }

    // The CA file must load; a certificate that is not a CA is most likely the wrong file.
    void ca_certificates(const fs::path& file, const std::string& pointer) {
        auto loaded = material_.certificates(file);
        if (!loaded) {
            error(pointer, "cannot be used: " + loaded.error().message);
            return;
        }
        for (const auto& certificate : *loaded.value()) {
            if (X509_check_ca(certificate.get()) == 0) {
                warning(pointer, "holds a certificate that is not a CA certificate (" + subject_text(*certificate) +
                                     "); a server cannot trust client certificates through it, so check that this is "
                                     "the CA that issues the client certificates");
            }
        }
    }

    FixRootStoreStep fix_root_store_step(const json& body, const std::string& at) {
        FixRootStoreStep fix;
        if (!object(body, at, {"move_to"})) return fix;
        if (!body.contains("move_to")) {
            error(at, "needs \"move_to\": the LocalMachine store that receives the misplaced certificates, normally "
                      "\"CA\"");
            return fix;
        }
        if (auto name = certificate_store(body["move_to"], child(at, "move_to"), "fix_root_store")) {
            if (*name == "Root") {
                error(child(at, "move_to"), "must not be Root: the step moves certificates out of Root (use \"CA\")");
            } else {
                fix.move_to = *name;
            }
        }
        return fix;
    }

    VerifyStep verify_step(const json& body, const std::string& at) {
        VerifyStep verify;
        if (!object(body, at, {"attempts", "delay"})) return verify;
        if (body.contains("attempts")) {
            if (auto attempts = integer(body["attempts"], child(at, "attempts"), 1)) verify.attempts = *attempts;
        }
        if (body.contains("delay")) {
            if (auto delay = duration(body["delay"], child(at, "delay"))) verify.delay = *delay;
        }
        return verify;
    }

private:
    fs::path base_dir_;
    bool certificate_stores_;
    TlsMaterialCache& material_;  // what validation decodes, the prober reuses
};

// nlohmann reports a byte offset; people need a line and a column.
std::string describe_parse_error(std::string_view text, const JsonParse& parsed) {
    if (parsed.error_offset == 0) return "is not valid JSON: " + parsed.error;
    const std::size_t offset = std::min<std::size_t>(parsed.error_offset - 1, text.size());
    std::size_t line = 1;
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < offset; ++i) {
        if (text[i] == '\n') {
            ++line;
            line_start = i + 1;
        }
    }
    const std::size_t column = offset - line_start + 1;
    std::string reason = parsed.error;
    // "parse error at line 1, column 2: syntax error while ...": the position is said already.
    if (const auto colon = reason.find(": ", reason.find("parse error")); colon != std::string::npos) {
        reason = reason.substr(colon + 2);
    }
    return "is not valid JSON: line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + reason;
}

// nlohmann keeps the last of two equal keys silently; a repeated "url" is a mistake worth
// reporting. Tracks where the parser is so the issue carries a JSON pointer.
class DuplicateKeyFinder {
public:
    std::vector<std::string> duplicates;  // pointers

    void operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
        switch (event) {
            case json::parse_event_t::object_start: frames_.push_back(Frame{false, 0, {}, {}}); break;
            case json::parse_event_t::array_start: frames_.push_back(Frame{true, 0, {}, {}}); break;
            case json::parse_event_t::key: {
                Frame& frame = frames_.back();
                frame.key = parsed.get<std::string>();
                // A few are enough to show the mistake; a file of thousands is an attack. One
                // more than listed makes the list say that more were left out.
                if (!frame.keys.insert(frame.key).second && duplicates.size() <= kMaxIssues) {
                    duplicates.push_back(pointer());
                }
                break;
            }
            case json::parse_event_t::object_end:
            case json::parse_event_t::array_end:
                frames_.pop_back();
                advance();
                break;
            case json::parse_event_t::value: advance(); break;
        }
    }

private:
    struct Frame {
        bool is_array = false;
        std::size_t index = 0;
        std::string key;
        std::set<std::string> keys;
    };
    void advance() {
        if (!frames_.empty() && frames_.back().is_array) ++frames_.back().index;
    }
    std::string pointer() const {
        std::string text;
        for (const Frame& frame : frames_) {
            text += frame.is_array ? "/" + std::to_string(frame.index) : "/" + pointer_token(frame.key);
        }
        return text;
    }
    std::vector<Frame> frames_;
};

}  // namespace

std::string format_issue(const ConfigIssue& issue) {
    const std::string where = issue.pointer.empty() ? std::string("(config)") : issue.pointer;
    const std::string level = issue.level == ConfigIssue::Level::warning ? "warning: " : "";
    return where + ": " + level + issue.message;
}

ConfigLoad parse_config(std::string_view json_text, const std::filesystem::path& source, const ConfigContext& context) {
    ConfigLoad load;
    TlsMaterialCache own_material;
    Validator check(source.parent_path(), context.certificate_stores,
                    context.tls_material ? *context.tls_material : own_material);

    DuplicateKeyFinder duplicates;
    auto parsed = parse_json_bounded(json_text, kMaxJsonDepth, std::ref(duplicates));
    if (!parsed.value) {
        load.issues.push_back({ConfigIssue::Level::error, "", describe_parse_error(json_text, parsed)});
        return load;
    }
    const json document = std::move(*parsed.value);
    for (const auto& pointer : duplicates.duplicates) {
        check.error(pointer, "appears twice in the same object; remove one of them");
    }

    Config config;
    config.source = source;
    config.service.state_dir = context.default_state_dir;
    if (check.object(document, "", {"service", "defaults", "sites", "remediation"}, {"$schema"})) {
        if (document.contains("service")) check.service(document["service"], config.service);

        SiteSettings defaults;
        if (document.contains("defaults") && check.object(document["defaults"], "/defaults", kSharedSiteKeys)) {
            defaults = check.site_settings(document["defaults"], "/defaults");
        }
        if (document.contains("sites")) {
            check.sites(document["sites"], defaults, config.sites);
        } else {
            check.error("", "needs a \"sites\" array listing at least one site to probe");
        }
        // Without a remediation section certheal only monitors and reports.
        if (document.contains("remediation")) {
            check.remediation(document["remediation"], config.remediation);
        } else {
            config.remediation.enabled = false;
        }
    }

    if (check.error_count() == 0) load.config = std::move(config);
    load.issues = std::move(check.issues);
    if (load.issues.size() > kMaxIssues) {
        const std::size_t left_out = load.issues.size() - kMaxIssues;
        load.issues.resize(kMaxIssues);
        load.issues.push_back({ConfigIssue::Level::error, "",
                               "has " + std::to_string(left_out) + " or more issue(s) not listed; fix the ones above first"});
    }
    return load;
}

ConfigLoad load_config(const std::filesystem::path& file, const ConfigContext& context) {
    std::error_code ec;
    const fs::path absolute = fs::absolute(file, ec);
    const fs::path& source = ec ? file : absolute;
    auto text = read_file_bounded(source, "the config file", kMaxConfigBytes);
    if (!text) {
        ConfigLoad load;
        load.issues.push_back({ConfigIssue::Level::error, "", "cannot be read: " + text.error().message});
        return load;
    }
    return parse_config(text.value(), source, context);
}

}  // namespace certheal
