#include "service/platform.hpp"

namespace certheal::platform {

std::filesystem::path default_config_path() { return "/etc/certheal/certheal.json"; }
std::filesystem::path default_state_dir() { return "/var/lib/certheal"; }

}  // namespace certheal::platform
