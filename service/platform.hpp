#pragma once
// What differs between Windows and POSIX hosts, decided by the adapter CMake picks
// (service/posix/platform.cpp or service/win/platform.cpp).

#include <filesystem>
#include <string>

namespace certheal::platform {

std::filesystem::path default_config_path();  // %ProgramData%\certheal\certheal.json | /etc/certheal/certheal.json
std::filesystem::path default_state_dir();    // %ProgramData%\certheal | /var/lib/certheal

}  // namespace certheal::platform
