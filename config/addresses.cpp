#include "config/addresses.hpp"

#include <algorithm>
#include <cctype>

#include "config/json_reader.hpp"

namespace certheal {

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

std::variant<HttpsUrl, std::string> parse_https_url(const std::string& url) {
    const std::string shown = shown_string(url);
    const auto scheme_end = url.find("://");
    std::string scheme = scheme_end == std::string::npos ? std::string() : url.substr(0, scheme_end);
    std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) {
        return static_cast<char>(std::tolower(c));
    });
    if (scheme != "https") return "must be an https URL, got " + shown;
    if (url.find_first_of(" \t\r\n") != std::string::npos) return "must not contain spaces, got " + shown;

    const std::string rest = url.substr(scheme_end + 3);
    const auto authority_end = rest.find_first_of("/?#");
    const std::string authority = rest.substr(0, authority_end);
    // Credentials in a URL would be a secret in the config; do not echo them back.
    if (authority.find('@') != std::string::npos) {
        return "must not contain a user name or password (certheal authenticates with a client certificate)";
    }
    HttpsUrl parsed;
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

std::optional<ListenAddress> parse_loopback_listen_address(const std::string& listen) {
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    const std::string host = listen.substr(0, colon);
    const auto port = parse_port(std::string_view(listen).substr(colon + 1));
    if (!port) return std::nullopt;
    if (host == "127.0.0.1" || host == "localhost") return ListenAddress{"127.0.0.1", *port};
    if (host == "[::1]" || host == "::1") return ListenAddress{"::1", *port};
    return std::nullopt;
}

}  // namespace certheal
