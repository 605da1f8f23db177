#include "service/win/schannel_registry.hpp"

#include <windows.h>

#include <algorithm>
#include <cctype>
#include <string>

#include "service/win/handles.hpp"
#include "service/win/host_trust_inspector.hpp"
#include "service/win/win_error.hpp"

namespace certheal::win {
namespace {

constexpr wchar_t kSchannelSubkey[] = L"SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL";

std::string value_path(std::string_view name) { return std::string(kSchannelKey) + "\\" + std::string(name); }

bool same_name(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

}  // namespace

Result<RegistryDword> RegistrySchannelSettings::read(std::string_view name) {
    // One reader of the key: the diagnosis's, which lists every value with its type as found.
    auto registry = SchannelHostTrustInspector().schannel();
    if (!registry) return registry.error();
    for (const auto& value : registry.value().values) {
        // Windows reads its values by name whatever their case.
        if (!same_name(value.name, name)) continue;
        RegistryDword found;
        found.present = true;
        found.type = value.type;
        if (value.type == "REG_DWORD") found.number = value.number;
        return found;
    }
    return RegistryDword{};
}

Result<Done> RegistrySchannelSettings::write(std::string_view name, std::uint32_t value) {
    RegKey key;
    const LSTATUS created = ::RegCreateKeyExW(HKEY_LOCAL_MACHINE, kSchannelSubkey, 0, nullptr, REG_OPTION_NON_VOLATILE,
                                              KEY_SET_VALUE, nullptr, key.out(), nullptr);
    if (created != ERROR_SUCCESS) {
        return win32_failure(static_cast<DWORD>(created), "certheal could not open " + std::string(kSchannelKey) +
                                                              " for writing");
    }
    const std::wstring wide = to_utf16(name);
    const DWORD number = value;
    const LSTATUS set = ::RegSetValueExW(key.get(), wide.c_str(), 0, REG_DWORD, reinterpret_cast<const BYTE*>(&number),
                                         sizeof number);
    if (set != ERROR_SUCCESS) {
        return win32_failure(static_cast<DWORD>(set), "certheal could not set " + value_path(name) + " to " +
                                                          std::to_string(value));
    }
    return success();
}

}  // namespace certheal::win
