// "service": how the service itself runs on this host (where its state lives, the status
// endpoint, the metrics textfile, how many probes at once).
#include <array>

#include "config/addresses.hpp"
#include "config/sections.hpp"

namespace certheal {
namespace {

using json = nlohmann::json;

// More probes in flight than this only queue inside the kernel and the TLS libraries; it
// bounds what one config can make certheal open at once.
constexpr int kMaxConcurrentProbes = 4096;

using ServiceKey = KeyReader<JsonReader, ServiceSettings>;

// In the order an unknown key's error lists them. A new key is a row here (and its field in
// core's ServiceSettings).
const std::array kServiceKeys{
    ServiceKey{"state_dir", [](JsonReader& reader, const json& value, const std::string& at, ServiceSettings& settings) {
                   if (auto dir = reader.file_path(value, at)) settings.state_dir = *dir;
               }},
    ServiceKey{"status_listen", [](JsonReader& reader, const json& value, const std::string& at, ServiceSettings& settings) {
                   const auto listen = reader.string(value, at);
                   if (!listen) return;
                   // The one reading of status_listen: the status server gets the parsed address.
                   if (auto address = parse_loopback_listen_address(*listen)) {
                       settings.status_listen = *address;
                   } else {
                       reader.error(at, "must be host:port on the loopback interface (127.0.0.1, [::1] or localhost) "
                                        "with a port from 1 to 65535, got " + quote(*listen));
                   }
               }},
    ServiceKey{"allow_insecure_config_acl",
               [](JsonReader& reader, const json& value, const std::string& at, ServiceSettings& settings) {
                   if (auto allow = reader.boolean(value, at)) settings.allow_insecure_config_acl = *allow;
               }},
    ServiceKey{"max_concurrent_probes",
               [](JsonReader& reader, const json& value, const std::string& at, ServiceSettings& settings) {
                   if (auto most = reader.integer(value, at, 1, kMaxConcurrentProbes)) {
                       settings.max_concurrent_probes = static_cast<std::size_t>(*most);
                   }
               }},
    ServiceKey{"textfile_dir", [](JsonReader& reader, const json& value, const std::string& at, ServiceSettings& settings) {
                   if (auto dir = reader.file_path(value, at)) settings.textfile_dir = *dir;
               }},
};

}  // namespace

void read_service(JsonReader& reader, const json& value, ServiceSettings& settings) {
    const std::string pointer = "/service";
    if (reader.object(value, pointer, key_names(kServiceKeys))) {
        read_known_keys(kServiceKeys, reader, value, pointer, settings);
    }
}

}  // namespace certheal
