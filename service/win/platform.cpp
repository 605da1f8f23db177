#include "service/platform.hpp"

#include <windows.h>
#include <knownfolders.h>
#include <shlobj.h>

#include <cstdlib>

namespace certheal::platform {
namespace {

// %ProgramData% (C:\ProgramData on a stock install). The known-folder API follows a
// relocated ProgramData; the environment variable is the fallback when the shell API
// cannot answer (a service running before the user profile service, say).
std::filesystem::path program_data() {
    wchar_t* known_folder = nullptr;
    if (SUCCEEDED(::SHGetKnownFolderPath(FOLDERID_ProgramData, KF_FLAG_DEFAULT, nullptr, &known_folder)) &&
        known_folder != nullptr) {
        std::filesystem::path path(known_folder);
        ::CoTaskMemFree(known_folder);
        return path;
    }
    if (known_folder != nullptr) ::CoTaskMemFree(known_folder);

    wchar_t from_environment[MAX_PATH + 1] = {};
    const DWORD length = ::GetEnvironmentVariableW(L"ProgramData", from_environment, MAX_PATH + 1);
    if (length > 0 && length <= MAX_PATH) return std::filesystem::path(from_environment);
    return std::filesystem::path(L"C:\\ProgramData");
}

}  // namespace

std::filesystem::path default_state_dir() { return program_data() / L"certheal"; }

std::filesystem::path default_config_path() { return default_state_dir() / L"certheal.json"; }

}  // namespace certheal::platform
