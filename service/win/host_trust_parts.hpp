#pragma once
// What the parts of the Windows HostTrustInspector (host_trust_inspector.cpp: Schannel and
// addresses; host_trust_bindings.cpp: http.sys; host_trust_chains.cpp: chains) read with alike:
// registry values, bounded, and socket addresses as text. Internal to service/win/host_trust_*.cpp.

// winsock2 before windows.h: the socket address types come from it.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/base/result.hpp"
#include "service/win/handles.hpp"

namespace certheal::win::host_trust_parts {

std::string shown_key(const wchar_t* path);

// The open key, or an empty RegKey when it does not exist.
Result<RegKey> open_key(const std::wstring& path);

std::wstring string_of(const std::vector<BYTE>& data);

struct RawValue {
    DWORD type = REG_NONE;
    std::vector<BYTE> data;
};

// One value of `key`, or nothing when it is not there (or larger than any such value can be).
std::optional<RawValue> read_value(HKEY key, const wchar_t* name);
std::optional<std::uint32_t> read_dword(HKEY key, const wchar_t* name);
std::string read_string(HKEY key, const wchar_t* name);

std::string upper_hex(const BYTE* bytes, std::size_t size);

// "10.0.0.5" / "::1" and the port of a socket address.
std::pair<std::string, std::uint16_t> address_of(const SOCKADDR* address);

}  // namespace certheal::win::host_trust_parts
