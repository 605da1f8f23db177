#include "service/win/host_trust_inspector.hpp"

// winsock2 before windows.h (handles.hpp): the socket address types of http.h come from it.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <http.h>
#define CERT_CHAIN_PARA_HAS_EXTRA_FIELDS
#include <wincrypt.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <type_traits>

#include "service/win/handles.hpp"
#include "service/win/win_error.hpp"

namespace certheal::win {
namespace {

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
constexpr const wchar_t* kHttpParametersKey = L"SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters";

// Bounds on what the registry and http.sys hand over: far beyond a real host, a limit for a
// damaged one.
constexpr DWORD kMostValues = 512;
constexpr DWORD kMostBindingsPerTable = 4096;
constexpr DWORD kLongestValueName = 16384;          // the registry's own limit, in characters
constexpr DWORD kLargestValue = 64 * 1024;          // bytes
constexpr ULONG kLargestBindingRecord = 64 * 1024;  // bytes
constexpr int kMostAddresses = 16;
constexpr DWORD kDefaultUrlTimeoutMs = 5000;

// --- the registry ----------------------------------------------------------------------------

std::string shown_key(const wchar_t* path) { return "HKLM\\" + to_utf8(path); }

// The open key, or an empty RegKey when it does not exist.
Result<RegKey> open_key(const std::wstring& path) {
    RegKey key;
    const LSTATUS status =
        ::RegOpenKeyExW(HKEY_LOCAL_MACHINE, path.c_str(), 0, KEY_READ | KEY_WOW64_64KEY, key.out());
    if (status == ERROR_SUCCESS) return key;
    if (status == ERROR_FILE_NOT_FOUND || status == ERROR_PATH_NOT_FOUND) return RegKey{};
    return win32_failure(static_cast<DWORD>(status), "certheal could not open the registry key " + shown_key(path.c_str()));
}

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

std::wstring string_of(const std::vector<BYTE>& data) {
    std::wstring text(data.size() / sizeof(wchar_t), L'\0');
    if (!text.empty()) std::memcpy(text.data(), data.data(), text.size() * sizeof(wchar_t));
    while (!text.empty() && text.back() == L'\0') text.pop_back();
    return text;
}

struct RawValue {
    DWORD type = REG_NONE;
    std::vector<BYTE> data;
};

// One value of `key`, or nothing when it is not there (or larger than any such value can be).
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

// --- http.sys's SSL configuration store --------------------------------------------------------

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

// "10.0.0.5" / "::1" and the port of a socket address.
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

// --- chains ------------------------------------------------------------------------------------

struct ChainEngineFree {
    void operator()(HCERTCHAINENGINE engine) const noexcept { ::CertFreeCertificateChainEngine(engine); }
};
struct ChainContextFree {
    void operator()(PCCERT_CHAIN_CONTEXT chain) const noexcept { ::CertFreeCertificateChain(chain); }
};
using ChainEngine = std::unique_ptr<std::remove_pointer_t<HCERTCHAINENGINE>, ChainEngineFree>;
using ChainContext = std::unique_ptr<const CERT_CHAIN_CONTEXT, ChainContextFree>;

constexpr DWORD kEncoding = X509_ASN_ENCODING | PKCS_7_ASN_ENCODING;

// CERT_CHAIN_ENGINE_CONFIG as Windows 8 declares it: mingw's wincrypt.h has dwExclusiveFlags only
// for NTDDI_WIN8 and later, and certheal builds against the Windows 7 API. Schannel itself passes
// this size (88 bytes). Wine 8 knows only the Windows 7 layout (up to hExclusiveTrustedPeople) and
// refuses the larger size with E_INVALIDARG: certheal then asks again with that one, without the
// flag (the diagnosis judges mode 2 from the chain as built as well).
struct ChainEngineConfig {
    DWORD cbSize;
    HCERTSTORE hRestrictedRoot;
    HCERTSTORE hRestrictedTrust;
    HCERTSTORE hRestrictedOther;
    DWORD cAdditionalStore;
    HCERTSTORE* rghAdditionalStore;
    DWORD dwFlags;
    DWORD dwUrlRetrievalTimeout;
    DWORD MaximumCachedCertificates;
    DWORD CycleDetectionModulus;
    HCERTSTORE hExclusiveRoot;
    HCERTSTORE hExclusiveTrustedPeople;
    DWORD dwExclusiveFlags;
};
constexpr DWORD kExclusiveEnableCaFlag = 0x1;  // CERT_CHAIN_EXCLUSIVE_ENABLE_CA_FLAG
static_assert(offsetof(ChainEngineConfig, hExclusiveRoot) == offsetof(CERT_CHAIN_ENGINE_CONFIG, hExclusiveRoot));
static_assert(sizeof(void*) != 8 || sizeof(ChainEngineConfig) == 88);
// The Windows 7 layout ends with the pointer before dwExclusiveFlags: its size is that offset.
constexpr DWORD kWindows7ConfigSize = static_cast<DWORD>(offsetof(ChainEngineConfig, dwExclusiveFlags));

Result<CertContext> certificate_context(const DerCertificate& der, const std::string& what) {
    if (der.empty() || der.size() > MAXDWORD) {
        return win32_failure(static_cast<DWORD>(CRYPT_E_ASN1_EOD), "certheal could not read " + what);
    }
    CertContext context(::CertCreateCertificateContext(kEncoding, reinterpret_cast<const BYTE*>(der.data()),
                                                       static_cast<DWORD>(der.size())));
    if (!context) return last_error_failure("certheal could not read " + what + " as a certificate");
    return context;
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

Result<BuiltChain> SchannelHostTrustInspector::build_chain(const ChainRequest& request) {
    auto leaf = certificate_context(request.leaf, "certheal's client certificate");
    if (!leaf) return leaf.error();

    // What the client sends with its certificate: Schannel has it too.
    CertStore sent(::CertOpenStore(CERT_STORE_PROV_MEMORY, 0, 0, CERT_STORE_CREATE_NEW_FLAG, nullptr));
    if (!sent) return last_error_failure("certheal could not make a memory certificate store");
    for (const auto& der : request.sent_intermediates) {
        if (der.empty() || der.size() > MAXDWORD) continue;
        ::CertAddEncodedCertificateToStore(sent.get(), X509_ASN_ENCODING, reinterpret_cast<const BYTE*>(der.data()),
                                           static_cast<DWORD>(der.size()), CERT_STORE_ADD_USE_EXISTING, nullptr);
    }

    const DWORD timeout = static_cast<DWORD>(
        std::clamp<long long>(request.url_retrieval_timeout.count(), 1, 60'000));
    ChainEngine engine;
    CertStore exclusive;
    HCERTCHAINENGINE engine_handle = HCCE_LOCAL_MACHINE;
    if (request.exclusive_store) {
        const std::wstring name = to_utf16(*request.exclusive_store);
        exclusive.reset(::CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, 0,
                                        CERT_SYSTEM_STORE_LOCAL_MACHINE | CERT_STORE_OPEN_EXISTING_FLAG |
                                            CERT_STORE_READONLY_FLAG,
                                        name.c_str()));
        if (!exclusive) {
            // A store that does not exist holds no trust anchor: an empty one says the same.
            exclusive.reset(::CertOpenStore(CERT_STORE_PROV_MEMORY, 0, 0, CERT_STORE_CREATE_NEW_FLAG, nullptr));
            if (!exclusive) return last_error_failure("certheal could not make a memory certificate store");
        }
        ChainEngineConfig config{};
        config.cbSize = sizeof config;
        config.dwFlags = CERT_CHAIN_USE_LOCAL_MACHINE_STORE;
        config.dwUrlRetrievalTimeout = timeout;
        config.hExclusiveRoot = exclusive.get();
        config.dwExclusiveFlags = request.exclusive_accepts_ca ? kExclusiveEnableCaFlag : 0;
        HCERTCHAINENGINE created = nullptr;
        bool made = ::CertCreateCertificateChainEngine(reinterpret_cast<PCERT_CHAIN_ENGINE_CONFIG>(&config), &created);
        if (!made && ::GetLastError() == static_cast<DWORD>(E_INVALIDARG)) {
            config.cbSize = kWindows7ConfigSize;
            config.dwExclusiveFlags = 0;
            made = ::CertCreateCertificateChainEngine(reinterpret_cast<PCERT_CHAIN_ENGINE_CONFIG>(&config), &created);
        }
        if (!made) {
            return last_error_failure("certheal could not make a chain engine whose only roots are LocalMachine\\" +
                                      *request.exclusive_store);
        }
        engine.reset(created);
        engine_handle = created;
    }

    CERT_CHAIN_PARA parameters{};
    parameters.cbSize = sizeof parameters;
    parameters.dwUrlRetrievalTimeout = timeout;
    DWORD flags = 0;
    if (request.revocation != ChainRequest::Revocation::none) flags |= CERT_CHAIN_REVOCATION_CHECK_CHAIN_EXCLUDE_ROOT;
    if (request.revocation == ChainRequest::Revocation::cache_only) flags |= CERT_CHAIN_REVOCATION_CHECK_CACHE_ONLY;
    PCCERT_CHAIN_CONTEXT raw_chain = nullptr;
    if (!::CertGetCertificateChain(engine_handle, leaf.value().get(), nullptr, sent.get(), &parameters, flags, nullptr,
                                   &raw_chain)) {
        return last_error_failure("certheal could not build the chain of its client certificate with crypt32");
    }
    ChainContext chain(raw_chain);
    BuiltChain built;
    built.error_status = chain->TrustStatus.dwErrorStatus;
    if (chain->cChain > 0 && chain->rgpChain[0] != nullptr) {
        const CERT_SIMPLE_CHAIN* simple = chain->rgpChain[0];
        for (DWORD index = 0; index < simple->cElement && index < 16; ++index) {
            const CERT_CONTEXT* context = simple->rgpElement[index]->pCertContext;
            built.certificates.emplace_back(reinterpret_cast<const char*>(context->pbCertEncoded), context->cbCertEncoded);
        }
    }
    return built;
}

}  // namespace certheal::win
