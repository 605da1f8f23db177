#include "service/win/host_trust_inspector.hpp"

// winsock2 before windows.h (handles.hpp): the socket address types of http.h come from it.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <http.h>

#include <algorithm>
#include <memory>
#include <type_traits>

#include "service/win/handles.hpp"
#include "service/win/host_trust_parts.hpp"
#include "service/win/win_error.hpp"

// SchannelHostTrustInspector::bindings(): http.sys's SSL configuration store, through httpapi.dll
// and, for a table it does not answer, the registry keys it keeps them in.
namespace certheal::win {
namespace {

using namespace host_trust_parts;

constexpr const wchar_t* kHttpParametersKey = L"SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters";

// Bounds on what the registry and http.sys hand over: far beyond a real host, a limit for a
// damaged one.
constexpr DWORD kMostBindingsPerTable = 4096;
constexpr ULONG kLargestBindingRecord = 64 * 1024;  // bytes

// The SNI and central-certificate-store records (Windows 8 / Server 2012), as http.h declares
// them; mingw's http.h stops at HttpServiceConfigSSLCertInfo.
struct SslSniKey {
    SOCKADDR_STORAGE IpPort;
    PWSTR Host;
};
struct SslSniSet {
    SslSniKey KeyDesc;
    HTTP_SERVICE_CONFIG_SSL_PARAM ParamDesc;
};
struct SslSniQuery {
    HTTP_SERVICE_CONFIG_QUERY_TYPE QueryDesc;
    SslSniKey KeyDesc;
    DWORD dwToken;
};
struct SslCcsKey {
    SOCKADDR_STORAGE LocalAddress;
};
struct SslCcsSet {
    SslCcsKey KeyDesc;
    HTTP_SERVICE_CONFIG_SSL_PARAM ParamDesc;
};
struct SslCcsQuery {
    HTTP_SERVICE_CONFIG_QUERY_TYPE QueryDesc;
    SslCcsKey KeyDesc;
    DWORD dwToken;
};

// HTTP_SERVICE_CONFIG_ID values: HttpServiceConfigSSLCertInfo is 1, ...SslSniCertInfo 5,
// ...SslCcsCertInfo 6. Passed as a plain ULONG (the ABI's type of an enum parameter): 5 and 6
// are not enumerators of mingw's HTTP_SERVICE_CONFIG_ID.
constexpr ULONG kSslCertInfo = 1;
constexpr ULONG kSslSniCertInfo = 5;
constexpr ULONG kSslCcsCertInfo = 6;

using HttpInitializeFunction = ULONG(WINAPI*)(HTTPAPI_VERSION, ULONG, PVOID);
using HttpTerminateFunction = ULONG(WINAPI*)(ULONG, PVOID);
using HttpQueryServiceConfigurationFunction = ULONG(WINAPI*)(HANDLE, ULONG, PVOID, ULONG, PVOID, ULONG, PULONG,
                                                             LPOVERLAPPED);

struct LibraryFree {
    void operator()(HMODULE module) const noexcept { ::FreeLibrary(module); }
};
using Library = std::unique_ptr<std::remove_pointer_t<HMODULE>, LibraryFree>;

template <class Function>
Function find_function(HMODULE module, const char* name) {
    FARPROC proc = ::GetProcAddress(module, name);
    return proc == nullptr ? nullptr : reinterpret_cast<Function>(reinterpret_cast<void (*)()>(proc));
}

std::string endpoint_of(const std::string& address, std::uint16_t port) {
    return (address.find(':') != std::string::npos ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

std::string wide_or_empty(const wchar_t* text) { return text == nullptr ? std::string() : to_utf8(text); }

void fill_parameters(SslBinding& binding, const HTTP_SERVICE_CONFIG_SSL_PARAM& parameters) {
    if (parameters.pSslHash != nullptr && parameters.SslHashLength <= 64) {
        binding.certificate_hash = upper_hex(static_cast<const BYTE*>(parameters.pSslHash), parameters.SslHashLength);
    }
    binding.certificate_store = wide_or_empty(parameters.pSslCertStoreName);
    binding.cert_check_mode = parameters.DefaultCertCheckMode;
    binding.revocation_freshness_time = parameters.DefaultRevocationFreshnessTime;
    binding.revocation_url_retrieval_timeout = parameters.DefaultRevocationUrlRetrievalTimeout;
    binding.ctl_identifier = wide_or_empty(parameters.pDefaultSslCtlIdentifier);
    binding.ctl_store_name = wide_or_empty(parameters.pDefaultSslCtlStoreName);
    binding.flags = parameters.DefaultFlags;
}

struct TableRead {
    std::vector<SslBinding> bindings;
    std::optional<DWORD> failed;  // the Win32 error the API answered with, when it did not list the table
};

// Enumerates one table with HttpServiceConfigQueryNext until ERROR_NO_MORE_ITEMS.
template <class Query, class Record>
TableRead query_table(HttpQueryServiceConfigurationFunction query_function, ULONG config_id, SslBinding::Kind kind) {
    TableRead read;
    std::vector<BYTE> buffer(4096);
    for (DWORD token = 0; token < kMostBindingsPerTable; ++token) {
        Query query{};
        query.QueryDesc = HttpServiceConfigQueryNext;
        query.dwToken = token;
        ULONG needed = 0;
        ULONG status = query_function(nullptr, config_id, &query, static_cast<ULONG>(sizeof query), buffer.data(),
                                      static_cast<ULONG>(buffer.size()), &needed, nullptr);
        if (status == ERROR_INSUFFICIENT_BUFFER && needed > buffer.size() && needed <= kLargestBindingRecord) {
            buffer.resize(needed);
            status = query_function(nullptr, config_id, &query, static_cast<ULONG>(sizeof query), buffer.data(),
                                    static_cast<ULONG>(buffer.size()), &needed, nullptr);
        }
        if (status == ERROR_NO_MORE_ITEMS) return read;
        if (status != NO_ERROR) {
            read.failed = status;
            return read;
        }
        const auto* record = reinterpret_cast<const Record*>(buffer.data());
        SslBinding binding;
        binding.kind = kind;
        binding.source = "http.sys";
        if constexpr (std::is_same_v<Record, HTTP_SERVICE_CONFIG_SSL_SET>) {
            const auto [address, port] = address_of(record->KeyDesc.pIpPort);
            binding.address = address;
            binding.port = port;
            binding.endpoint = endpoint_of(address, port);
        } else if constexpr (std::is_same_v<Record, SslSniSet>) {
            const auto [address, port] = address_of(reinterpret_cast<const SOCKADDR*>(&record->KeyDesc.IpPort));
            binding.address = wide_or_empty(record->KeyDesc.Host);
            binding.port = port;
            binding.endpoint = binding.address + ":" + std::to_string(port);
        } else {
            const auto [address, port] = address_of(reinterpret_cast<const SOCKADDR*>(&record->KeyDesc.LocalAddress));
            binding.address = address;
            binding.port = port;
            binding.endpoint = endpoint_of(address, port);
        }
        fill_parameters(binding, record->ParamDesc);
        read.bindings.push_back(std::move(binding));
    }
    return read;
}

// "host:port" / "[::]:443" / "0.0.0.0:443" into address and port.
bool split_endpoint(const std::string& endpoint, std::string& address, std::uint16_t& port) {
    const auto colon = endpoint.rfind(':');
    if (colon == std::string::npos || colon + 1 >= endpoint.size() || endpoint.size() - colon > 6) return false;
    unsigned long number = 0;
    for (std::size_t index = colon + 1; index < endpoint.size(); ++index) {
        if (endpoint[index] < '0' || endpoint[index] > '9') return false;
        number = number * 10 + static_cast<unsigned long>(endpoint[index] - '0');
    }
    if (number == 0 || number > 65535) return false;
    address = endpoint.substr(0, colon);
    if (address.size() >= 2 && address.front() == '[' && address.back() == ']') address = address.substr(1, address.size() - 2);
    port = static_cast<std::uint16_t>(number);
    return !address.empty();
}

// The registry table of `kind` (a subkey of HTTP\Parameters).
Result<std::vector<SslBinding>> registry_table(const wchar_t* table, SslBinding::Kind kind) {
    const std::wstring path = std::wstring(kHttpParametersKey) + L"\\" + table;
    auto opened = open_key(path);
    if (!opened) return opened.error();
    std::vector<SslBinding> bindings;
    if (!opened.value()) return bindings;  // no table: no bindings of this kind
    std::vector<wchar_t> name(256);
    for (DWORD index = 0; index < kMostBindingsPerTable; ++index) {
        DWORD length = static_cast<DWORD>(name.size());
        const LSTATUS status = ::RegEnumKeyExW(opened.value().get(), index, name.data(), &length, nullptr, nullptr,
                                               nullptr, nullptr);
        if (status == ERROR_NO_MORE_ITEMS) break;
        if (status != ERROR_SUCCESS) {
            return win32_failure(static_cast<DWORD>(status), "certheal could not list the keys of " + shown_key(path.c_str()));
        }
        const std::wstring key_name(name.data(), length);
        RegKey binding_key;
        if (::RegOpenKeyExW(opened.value().get(), key_name.c_str(), 0, KEY_READ, binding_key.out()) != ERROR_SUCCESS) {
            continue;
        }
        SslBinding binding;
        binding.kind = kind;
        binding.source = "registry";
        std::string endpoint = to_utf8(key_name);
        if (kind == SslBinding::Kind::hostname_port) {
            // Newer Windows name the key otherwise and keep host:port in a value.
            if (auto hostname_port = read_string(binding_key.get(), L"HostnamePort"); !hostname_port.empty()) {
                endpoint = hostname_port;
            }
        }
        if (!split_endpoint(endpoint, binding.address, binding.port)) continue;
        binding.endpoint = kind == SslBinding::Kind::hostname_port ? binding.address + ":" + std::to_string(binding.port)
                                                                   : endpoint_of(binding.address, binding.port);
        if (auto hash = read_value(binding_key.get(), L"SslCertHash"); hash && hash->type == REG_BINARY) {
            binding.certificate_hash = upper_hex(hash->data.data(), std::min<std::size_t>(hash->data.size(), 64));
        }
        binding.certificate_store = read_string(binding_key.get(), L"SslCertStoreName");
        binding.cert_check_mode = read_dword(binding_key.get(), L"DefaultSslCertCheckMode").value_or(0);
        binding.revocation_freshness_time = read_dword(binding_key.get(), L"DefaultSslRevocationFreshnessTime").value_or(0);
        binding.revocation_url_retrieval_timeout =
            read_dword(binding_key.get(), L"DefaultSslRevocationUrlRetrievalTimeout").value_or(0);
        binding.ctl_identifier = read_string(binding_key.get(), L"DefaultSslCtlIdentifier");
        binding.ctl_store_name = read_string(binding_key.get(), L"DefaultSslCtlStoreName");
        binding.flags = read_dword(binding_key.get(), L"DefaultFlags").value_or(0);
        bindings.push_back(std::move(binding));
    }
    return bindings;
}

}  // namespace

Result<HttpSysBindings> SchannelHostTrustInspector::bindings() {
    HttpSysBindings found;
    struct Table {
        const char* name;
        const wchar_t* registry;
        SslBinding::Kind kind;
        TableRead api;
    };
    Table tables[] = {
        {"IP", L"SslBindingInfo", SslBinding::Kind::ip_port, {}},
        {"SNI", L"SslSniBindingInfo", SslBinding::Kind::hostname_port, {}},
        {"central certificate store", L"SslCcsBindingInfo", SslBinding::Kind::central_store, {}},
    };

    Library httpapi(::LoadLibraryExW(L"httpapi.dll", nullptr, LOAD_LIBRARY_SEARCH_SYSTEM32));
    auto initialize = httpapi ? find_function<HttpInitializeFunction>(httpapi.get(), "HttpInitialize") : nullptr;
    auto terminate = httpapi ? find_function<HttpTerminateFunction>(httpapi.get(), "HttpTerminate") : nullptr;
    auto query = httpapi ? find_function<HttpQueryServiceConfigurationFunction>(httpapi.get(),
                                                                                 "HttpQueryServiceConfiguration")
                         : nullptr;
    bool initialized = false;
    if (initialize && terminate && query) {
        const ULONG status = initialize(HTTPAPI_VERSION_1, HTTP_INITIALIZE_CONFIG, nullptr);
        initialized = status == NO_ERROR;
        if (!initialized) {
            found.notes.push_back("HttpInitialize answered " + system_message(status) + " (Win32 error " +
                                  std::to_string(status) + "); certheal read the bindings from the registry");
        }
    } else {
        found.notes.push_back("httpapi.dll could not be loaded; certheal read the bindings from the registry");
    }
    if (initialized) {
        tables[0].api = query_table<HTTP_SERVICE_CONFIG_SSL_QUERY, HTTP_SERVICE_CONFIG_SSL_SET>(query, kSslCertInfo,
                                                                                               tables[0].kind);
        tables[1].api = query_table<SslSniQuery, SslSniSet>(query, kSslSniCertInfo, tables[1].kind);
        tables[2].api = query_table<SslCcsQuery, SslCcsSet>(query, kSslCcsCertInfo, tables[2].kind);
        terminate(HTTP_INITIALIZE_CONFIG, nullptr);
    }
    for (auto& table : tables) {
        if (initialized && !table.api.failed && !table.api.bindings.empty()) {
            for (auto& binding : table.api.bindings) found.bindings.push_back(std::move(binding));
            continue;
        }
        auto from_registry = registry_table(table.registry, table.kind);
        if (!from_registry) return from_registry.error();
        if (initialized) {
            found.notes.push_back(
                std::string("http.sys ") +
                (table.api.failed ? "answered \"" + system_message(*table.api.failed) + "\" (Win32 error " +
                                        std::to_string(*table.api.failed) + ")"
                                  : std::string("listed none")) +
                " for the " + table.name + " bindings; certheal read " + std::to_string(from_registry.value().size()) +
                " from HKLM\\" + to_utf8(kHttpParametersKey) + "\\" + to_utf8(table.registry));
        }
        for (auto& binding : from_registry.value()) found.bindings.push_back(std::move(binding));
    }
    return found;
}

}  // namespace certheal::win
