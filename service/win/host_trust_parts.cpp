#include "service/win/host_trust_parts.hpp"

#include <cstring>

#include "service/win/win_error.hpp"

namespace certheal::win::host_trust_parts {
namespace {

// Bounds on what the registry hands over: far beyond a real host, a limit for a damaged one.
constexpr DWORD kLargestValue = 64 * 1024;  // bytes

}  // namespace

std::string shown_key(const wchar_t* path) { return "HKLM\\" + to_utf8(path); }

Result<RegKey> open_key(const std::wstring& path) {
    RegKey key;
    const LSTATUS status =
        ::RegOpenKeyExW(HKEY_LOCAL_MACHINE, path.c_str(), 0, KEY_READ | KEY_WOW64_64KEY, key.out());
    if (status == ERROR_SUCCESS) return key;
    if (status == ERROR_FILE_NOT_FOUND || status == ERROR_PATH_NOT_FOUND) return RegKey{};
    return win32_failure(static_cast<DWORD>(status), "certheal could not open the registry key " + shown_key(path.c_str()));
}

std::wstring string_of(const std::vector<BYTE>& data) {
    std::wstring text(data.size() / sizeof(wchar_t), L'\0');
    if (!text.empty()) std::memcpy(text.data(), data.data(), text.size() * sizeof(wchar_t));
    while (!text.empty() && text.back() == L'\0') text.pop_back();
    return text;
}

std::optional<RawValue> read_value(HKEY key, const wchar_t* name) {
    DWORD type = 0;
    DWORD size = 0;
    if (::RegQueryValueExW(key, name, nullptr, &type, nullptr, &size) != ERROR_SUCCESS || size > kLargestValue) {
        return std::nullopt;
    }
    RawValue value;
    value.type = type;
    value.data.resize(size);
    if (::RegQueryValueExW(key, name, nullptr, &type, value.data.data(), &size) != ERROR_SUCCESS) return std::nullopt;
    value.data.resize(size);
    return value;
}

std::optional<std::uint32_t> read_dword(HKEY key, const wchar_t* name) {
    auto value = read_value(key, name);
    if (!value || value->type != REG_DWORD || value->data.size() != sizeof(DWORD)) return std::nullopt;
    DWORD number = 0;
    std::memcpy(&number, value->data.data(), sizeof number);
    return number;
}

std::string read_string(HKEY key, const wchar_t* name) {
    auto value = read_value(key, name);
    if (!value || (value->type != REG_SZ && value->type != REG_EXPAND_SZ)) return {};
    return to_utf8(string_of(value->data));
}

std::string upper_hex(const BYTE* bytes, std::size_t size) {
    static constexpr char kDigits[] = "0123456789ABCDEF";
    std::string text;
    for (std::size_t index = 0; index < size; ++index) {
        text += kDigits[bytes[index] >> 4];
        text += kDigits[bytes[index] & 0x0f];
    }
    return text;
}

std::pair<std::string, std::uint16_t> address_of(const SOCKADDR* address) {
    if (address == nullptr) return {"", 0};
    char text[INET6_ADDRSTRLEN] = {};
    if (address->sa_family == AF_INET) {
        const auto* v4 = reinterpret_cast<const SOCKADDR_IN*>(address);
        ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
        return {text, ntohs(v4->sin_port)};
    }
    if (address->sa_family == AF_INET6) {
        const auto* v6 = reinterpret_cast<const SOCKADDR_IN6*>(address);
        ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
        return {text, ntohs(v6->sin6_port)};
    }
    return {"", 0};
}

}  // namespace certheal::win::host_trust_parts
