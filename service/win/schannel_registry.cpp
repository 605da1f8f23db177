#include "service/win/schannel_registry.hpp"

#include <windows.h>

#include <array>
#include <cstring>
#include <string>

#include "service/win/handles.hpp"
#include "service/win/win_error.hpp"

namespace certheal::win {
namespace {

constexpr wchar_t kSchannelSubkey[] = L"SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL";

std::string value_path(std::string_view name) { return std::string(kSchannelKey) + "\\" + std::string(name); }

std::string type_name(DWORD type) {
    switch (type) {
        case REG_DWORD: return "REG_DWORD";
        case REG_SZ: return "REG_SZ";
        case REG_EXPAND_SZ: return "REG_EXPAND_SZ";
        case REG_MULTI_SZ: return "REG_MULTI_SZ";
        case REG_BINARY: return "REG_BINARY";
        case REG_QWORD: return "REG_QWORD";
        default: return "registry type " + std::to_string(type);
    }
}

}  // namespace

Result<RegistryDword> RegistrySchannelSettings::read(std::string_view name) {
    RegKey key;
    const LSTATUS opened = ::RegOpenKeyExW(HKEY_LOCAL_MACHINE, kSchannelSubkey, 0, KEY_QUERY_VALUE, key.out());
    if (opened == ERROR_FILE_NOT_FOUND) return RegistryDword{};
    if (opened != ERROR_SUCCESS) {
        return win32_failure(static_cast<DWORD>(opened), "certheal could not open " + std::string(kSchannelKey));
    }
    const std::wstring wide = to_utf16(name);
    DWORD type = 0;
    // A DWORD, or the start of a value of another type: only its type matters then.
    std::array<BYTE, 8> data{};
    DWORD size = static_cast<DWORD>(data.size());
    const LSTATUS queried = ::RegQueryValueExW(key.get(), wide.c_str(), nullptr, &type, data.data(), &size);
    if (queried == ERROR_FILE_NOT_FOUND) return RegistryDword{};
    if (queried != ERROR_SUCCESS && queried != ERROR_MORE_DATA) {
        return win32_failure(static_cast<DWORD>(queried), "certheal could not read " + value_path(name));
    }
    RegistryDword value;
    value.present = true;
    value.type = type_name(type);
    if (type == REG_DWORD && queried == ERROR_SUCCESS && size == sizeof(DWORD)) {
        DWORD number = 0;
        std::memcpy(&number, data.data(), sizeof number);
        value.number = number;
    }
    return value;
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
