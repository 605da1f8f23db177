#include "service/win/host_trust_inspector.hpp"

// winsock2 before windows.h (handles.hpp): the socket address types of http.h come from it.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <http.h>
#define CERT_CHAIN_PARA_HAS_EXTRA_FIELDS
#include <wincrypt.h>

#include <algorithm>
#include <cstring>

#include "service/win/handles.hpp"
#include "service/win/host_trust_parts.hpp"
#include "service/win/win_error.hpp"

// The parts of the inspector: here the SCHANNEL key and the addresses of a host;
// host_trust_bindings.cpp reads http.sys's bindings, host_trust_chains.cpp builds chains.
namespace certheal::win {
namespace {

using namespace host_trust_parts;

static_assert(chain_status::not_time_valid == CERT_TRUST_IS_NOT_TIME_VALID);
static_assert(chain_status::revoked == CERT_TRUST_IS_REVOKED);
static_assert(chain_status::not_signature_valid == CERT_TRUST_IS_NOT_SIGNATURE_VALID);
static_assert(chain_status::not_valid_for_usage == CERT_TRUST_IS_NOT_VALID_FOR_USAGE);
static_assert(chain_status::untrusted_root == CERT_TRUST_IS_UNTRUSTED_ROOT);
static_assert(chain_status::revocation_status_unknown == CERT_TRUST_REVOCATION_STATUS_UNKNOWN);
static_assert(chain_status::partial_chain == CERT_TRUST_IS_PARTIAL_CHAIN);
static_assert(chain_status::offline_revocation == CERT_TRUST_IS_OFFLINE_REVOCATION);
static_assert(SslBinding::kNegotiateClientCert == HTTP_SERVICE_CONFIG_SSL_FLAG_NEGOTIATE_CLIENT_CERT);

constexpr const wchar_t* kSchannelKey = L"SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL";
constexpr const wchar_t* kTls13ServerKey =
    L"SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols\\TLS 1.3\\Server";

// Bounds on what the registry and the resolver hand over: far beyond a real host, a limit for a
// damaged one.
constexpr DWORD kMostValues = 512;
constexpr DWORD kLongestValueName = 16384;  // the registry's own limit, in characters
constexpr int kMostAddresses = 16;

std::string type_name(DWORD type) {
    switch (type) {
        case REG_DWORD: return "REG_DWORD";
        case REG_QWORD: return "REG_QWORD";
        case REG_SZ: return "REG_SZ";
        case REG_EXPAND_SZ: return "REG_EXPAND_SZ";
        case REG_MULTI_SZ: return "REG_MULTI_SZ";
        case REG_BINARY: return "REG_BINARY";
        default: return "registry type " + std::to_string(type);
    }
}

std::uint32_t os_build() {
    // RtlGetVersion tells the truth whatever the program's manifest says.
    using RtlGetVersionFunction = LONG(WINAPI*)(OSVERSIONINFOW*);
    HMODULE ntdll = ::GetModuleHandleW(L"ntdll.dll");
    if (ntdll == nullptr) return 0;
    FARPROC proc = ::GetProcAddress(ntdll, "RtlGetVersion");
    if (proc == nullptr) return 0;
    auto get_version = reinterpret_cast<RtlGetVersionFunction>(reinterpret_cast<void (*)()>(proc));
    OSVERSIONINFOW info{};
    info.dwOSVersionInfoSize = sizeof info;
    if (get_version(&info) != 0) return 0;
    return info.dwBuildNumber;
}

}  // namespace

Result<SchannelRegistry> SchannelHostTrustInspector::schannel() {
    SchannelRegistry registry;
    registry.os_build = os_build();
    auto opened = open_key(kSchannelKey);
    if (!opened) return opened.error();
    if (opened.value()) {
        registry.key_present = true;
        std::vector<wchar_t> name(kLongestValueName + 1);
        for (DWORD index = 0; index < kMostValues; ++index) {
            DWORD length = static_cast<DWORD>(name.size());
            DWORD type = 0;
            const LSTATUS status =
                ::RegEnumValueW(opened.value().get(), index, name.data(), &length, nullptr, &type, nullptr, nullptr);
            if (status == ERROR_NO_MORE_ITEMS) break;
            if (status != ERROR_SUCCESS) {
                return win32_failure(static_cast<DWORD>(status),
                                     "certheal could not list the values of " + shown_key(kSchannelKey));
            }
            const std::wstring value_name(name.data(), length);
            RegistryValue value;
            value.name = to_utf8(value_name);
            value.type = type_name(type);
            if (auto raw = read_value(opened.value().get(), value_name.c_str())) {
                if (raw->type == REG_DWORD && raw->data.size() == sizeof(DWORD)) {
                    DWORD number = 0;
                    std::memcpy(&number, raw->data.data(), sizeof number);
                    value.number = number;
                } else if (raw->type == REG_SZ || raw->type == REG_EXPAND_SZ) {
                    value.text = to_utf8(string_of(raw->data));
                }
            }
            registry.values.push_back(std::move(value));
        }
    }
    auto tls13 = open_key(kTls13ServerKey);
    if (tls13 && tls13.value()) {
        registry.tls13_server_enabled = read_dword(tls13.value().get(), L"Enabled");
        registry.tls13_server_disabled_by_default = read_dword(tls13.value().get(), L"DisabledByDefault");
    }
    return registry;
}

Result<std::vector<std::string>> SchannelHostTrustInspector::addresses_of(const std::string& host) {
    std::vector<std::string> addresses;
    std::string literal = host;
    if (literal.size() >= 2 && literal.front() == '[' && literal.back() == ']') literal = literal.substr(1, literal.size() - 2);
    IN6_ADDR v6{};
    IN_ADDR v4{};
    if (::inet_pton(AF_INET, literal.c_str(), &v4) == 1 || ::inet_pton(AF_INET6, literal.c_str(), &v6) == 1) {
        addresses.push_back(literal);
        return addresses;
    }
    WSADATA data{};
    if (const int started = ::WSAStartup(MAKEWORD(2, 2), &data); started != 0) {
        return win32_failure(static_cast<DWORD>(started), "certheal could not start Winsock to resolve " + host);
    }
    ADDRINFOW hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    ADDRINFOW* results = nullptr;
    const std::wstring wide_host = to_utf16(host);
    if (::GetAddrInfoW(wide_host.c_str(), nullptr, &hints, &results) == 0) {
        int count = 0;
        for (const ADDRINFOW* entry = results; entry != nullptr && count < kMostAddresses; entry = entry->ai_next, ++count) {
            auto [address, port] = address_of(entry->ai_addr);
            if (!address.empty() && std::find(addresses.begin(), addresses.end(), address) == addresses.end()) {
                addresses.push_back(address);
            }
        }
        ::FreeAddrInfoW(results);
    }
    ::WSACleanup();
    return addresses;  // a name that does not resolve has no addresses: only SNI and wildcard bindings match
}

}  // namespace certheal::win
