#pragma once
// The two addresses a config writes as text: a site's https URL and the status endpoint's
// loopback host:port.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "core/model/config_model.hpp"

namespace certheal {

// 1 to 65535, digits only.
std::optional<std::uint16_t> parse_port(std::string_view text);

struct HttpsUrl {
    std::string host;
    std::uint16_t port = 443;
    std::string target = "/";  // path and query, without the fragment
};

// Either the parts of an https URL or why it is not one: a clause such as "must be an https
// URL, got \"http://x\"" (a user name or password in it is never echoed).
std::variant<HttpsUrl, std::string> parse_https_url(const std::string& url);

// "127.0.0.1:9464", "localhost:9464", "[::1]:9464": the address the status server listens
// on; nullopt for anything not on the loopback interface.
std::optional<ListenAddress> parse_loopback_listen_address(const std::string& listen);

}  // namespace certheal
