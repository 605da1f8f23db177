// "service": how the service itself runs on this host (where its state lives, the status
// endpoint, the metrics textfile, how many probes at once).
#include <array>

#include "config/addresses.hpp"
#include "config/sections.hpp"

namespace certheal {
namespace {

using json = nlohmann::json;
using ServiceKey = KeyReader<ServiceSettings>;

// More probes in flight than this only queue inside the kernel and the TLS libraries; it
// bounds what one config can make certheal open at once.
constexpr int kMaxConcurrentProbes = 4096;

// The one reading of status_listen: the status server gets the parsed address.
void read_status_listen(const SectionReading& reading, const json& value, const std::string& pointer,
                        ServiceSettings& settings) {
    const auto listen = reading.reader.read_string(value, pointer);
    if (!listen) return;
    if (auto address = parse_loopback_listen_address(*listen)) {
        settings.status_listen = *address;
    } else {
        reading.reader.error(pointer,
                             "must be host:port on the loopback interface (127.0.0.1, [::1] or localhost) with a port "
                             "from 1 to 65535, got " +
                                 shown_string(*listen));
    }
}

// In the order an unknown key's error lists them. A new key is a row here (and its field in
// core's ServiceSettings).
const std::array kServiceKeys{
    ServiceKey{"state_dir", read_file_path_key<&ServiceSettings::state_dir>},
    ServiceKey{"status_listen", read_status_listen},
    ServiceKey{"allow_insecure_config_acl", read_boolean_key<&ServiceSettings::allow_insecure_config_acl>},
    ServiceKey{"max_concurrent_probes",
               read_integer_key<&ServiceSettings::max_concurrent_probes, 1, kMaxConcurrentProbes>},
    ServiceKey{"textfile_dir", read_file_path_key<&ServiceSettings::textfile_dir>},
};

}  // namespace

void read_service(const SectionReading& reading, const json& value, ServiceSettings& settings) {
    const std::string pointer = "/service";
    if (reading.reader.check_object(value, pointer, key_names(kServiceKeys))) {
        read_known_keys(kServiceKeys, reading, value, pointer, settings);
    }
}

}  // namespace certheal
