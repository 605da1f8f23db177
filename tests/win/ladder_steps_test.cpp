// The repair ladder's Windows steps on Wine's real stores and registry: add_intermediates through
// SystemCertificateStores, set_schannel through RegistrySchannelSettings. Every result is read
// back independently: the stores with crypt32 (tests/win/certstore_support.hpp), the Schannel
// values with RegQueryValueExW.

#include <windows.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "certstore_checks.hpp"
#include "config/config.hpp"
#include "core/repair/host_trust_steps.hpp"
#include "service/platform.hpp"
#include "service/win/schannel_registry.hpp"
#include "support/files.hpp"
#include "support/pki.hpp"

using certheal::test::read_text;
using namespace certheal;
using certstore_test::crypt32_store_has;
using certstore_test::only_certificate_of;
using certstore_test::read_certificate_file;
using certstore_test::value_of;

namespace {

constexpr wchar_t kSchannel[] = L"SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL";

// The value as the registry holds it, asked without certheal's adapter.
std::optional<DWORD> registry_dword(const wchar_t* name) {
    DWORD value = 0;
    DWORD size = sizeof value;
    DWORD type = 0;
    const LSTATUS status =
        ::RegGetValueW(HKEY_LOCAL_MACHINE, kSchannel, name, RRF_RT_ANY, &type, &value, &size);
    if (status != ERROR_SUCCESS || type != REG_DWORD) return std::nullopt;
    return value;
}

void delete_value(const wchar_t* name) {
    win::RegKey key;
    if (::RegOpenKeyExW(HKEY_LOCAL_MACHINE, kSchannel, 0, KEY_SET_VALUE, key.out()) == ERROR_SUCCESS) {
        ::RegDeleteValueW(key.get(), name);
    }
}

void set_value(const wchar_t* name, DWORD value) {
    win::RegKey key;
    REQUIRE(::RegCreateKeyExW(HKEY_LOCAL_MACHINE, kSchannel, 0, nullptr, 0, KEY_SET_VALUE, nullptr, key.out(),
                              nullptr) == ERROR_SUCCESS);
    REQUIRE(::RegSetValueExW(key.get(), name, 0, REG_DWORD, reinterpret_cast<const BYTE*>(&value), sizeof value) ==
            ERROR_SUCCESS);
}

// The Schannel values put back as they were when the test ends, however it ends.
class SchannelRestoredAtEnd {
public:
    SchannelRestoredAtEnd()
        : mode_(registry_dword(L"ClientAuthTrustMode")), send_(registry_dword(L"SendTrustedIssuerList")) {}
    ~SchannelRestoredAtEnd() {
        restore(L"ClientAuthTrustMode", mode_);
        restore(L"SendTrustedIssuerList", send_);
    }
    SchannelRestoredAtEnd(const SchannelRestoredAtEnd&) = delete;
    SchannelRestoredAtEnd& operator=(const SchannelRestoredAtEnd&) = delete;

private:
    static void restore(const wchar_t* name, const std::optional<DWORD>& value) {
        if (value) {
            set_value(name, *value);
        } else {
            delete_value(name);
        }
    }
    std::optional<DWORD> mode_;
    std::optional<DWORD> send_;
};

}  // namespace

TEST_CASE("add_intermediates puts the intermediate of a chain file into LocalMachine\\CA for crypt32, once",
          "[wine][certstore][ladder]") {
    const test::Pki pki;
    const auto chain = pki.write("chain.pem", read_text(pki.intermediate_ca_cert) + read_text(pki.ca_cert));
    auto adapters = platform::make_adapters();
    auto& stores = *adapters.certificate_stores;
    const DerCertificate intermediate = only_certificate_of(pki.intermediate_ca_cert);
    const DerCertificate root = only_certificate_of(pki.ca_cert);
    REQUIRE_FALSE(value_of(crypt32_store_has(L"CA", intermediate)));

    const auto preview = value_of(add_intermediates(AddIntermediatesStep{chain}, stores, /*apply=*/false));
    CHECK(preview.store.missing.size() == 1);
    CHECK_FALSE(value_of(crypt32_store_has(L"CA", intermediate)));  // looking changes nothing

    const auto first = value_of(add_intermediates(AddIntermediatesStep{chain}, stores, /*apply=*/true));
    CHECK(first.store.changed);
    CHECK(first.store.target == "LocalMachine\\CA");
    CHECK(value_of(crypt32_store_has(L"CA", intermediate)));
    CHECK_FALSE(value_of(crypt32_store_has(L"CA", root)));  // the self-signed root is not an intermediate
    REQUIRE(first.not_added.size() == 1);

    const auto again = value_of(add_intermediates(AddIntermediatesStep{chain}, stores, /*apply=*/true));
    CHECK_FALSE(again.store.changed);
    CHECK(again.store.present.size() == 1);

    CHECK(value_of(stores.remove("CA", intermediate)) == CertificateStores::Removed::removed);
}

TEST_CASE("set_schannel is refused by the configuration unless remediation.allow_host_settings allows it",
          "[wine][ladder][schannel]") {
    const std::string ladder = R"({
      "sites": [ { "name": "intranet", "url": "https://intranet.example.com/health" } ],
      "remediation": {
        "stages": [ { "name": "exclusive CA trust",
                      "steps": [ { "set_schannel": { "client_auth_trust_mode": 2, "send_trusted_issuer_list": false } } ] } ]
      }
    })";
    const ConfigContext windows = platform::config_context();
    REQUIRE(windows.certificate_stores);
    const auto refused = parse_config(ladder, "C:\\certheal\\certheal.json", windows);
    CHECK_FALSE(refused.config.has_value());
    const bool said = std::any_of(refused.issues.begin(), refused.issues.end(), [](const ConfigIssue& issue) {
        return issue.level == ConfigIssue::Level::error &&
               issue.pointer == "/remediation/stages/0/steps/0/set_schannel" &&
               issue.message.find("allow_host_settings") != std::string::npos;
    });
    CHECK(said);

    auto allowed_text = nlohmann::json::parse(ladder);
    allowed_text["remediation"]["allow_host_settings"] = true;
    const auto allowed = parse_config(allowed_text.dump(), "C:\\certheal\\certheal.json", windows);
    REQUIRE(allowed.config.has_value());
    CHECK(std::holds_alternative<SetSchannelStep>(allowed.config->remediation.stages.at(0).steps.at(0).action));
}

TEST_CASE("set_schannel writes ClientAuthTrustMode and SendTrustedIssuerList in Wine's registry, keeps what it "
          "found, and reads them back",
          "[wine][ladder][schannel]") {
    SchannelRestoredAtEnd restored;
    set_value(L"ClientAuthTrustMode", 0);
    delete_value(L"SendTrustedIssuerList");
    win::RegistrySchannelSettings settings;

    const auto preview = value_of(set_schannel(SetSchannelStep{2, false}, settings, /*apply=*/false));
    CHECK(preview.values.at(0).changed);
    CHECK(registry_dword(L"ClientAuthTrustMode") == DWORD{0});  // looking changes nothing

    const auto written = value_of(set_schannel(SetSchannelStep{2, false}, settings, /*apply=*/true));
    CHECK(written.changed);
    REQUIRE(written.values.size() == 2);
    CHECK(written.values[0].name == "ClientAuthTrustMode");
    CHECK(written.values[0].before.number == 0u);
    CHECK(written.values[0].after->number == 2u);
    CHECK_FALSE(written.values[1].before.present);
    CHECK_THAT(written.values[1].undo, Catch::Contains("delete the value SendTrustedIssuerList"));
    CHECK(registry_dword(L"ClientAuthTrustMode") == DWORD{2});
    CHECK(registry_dword(L"SendTrustedIssuerList") == DWORD{0});

    const auto again = value_of(set_schannel(SetSchannelStep{2, false}, settings, /*apply=*/true));
    CHECK_FALSE(again.changed);

    // A value of the wrong type (Windows ignores it) is named and replaced by a REG_DWORD.
    {
        win::RegKey key;
        REQUIRE(::RegOpenKeyExW(HKEY_LOCAL_MACHINE, kSchannel, 0, KEY_SET_VALUE, key.out()) == ERROR_SUCCESS);
        const wchar_t text[] = L"1";
        REQUIRE(::RegSetValueExW(key.get(), L"ClientAuthTrustMode", 0, REG_SZ, reinterpret_cast<const BYTE*>(text),
                                 sizeof text) == ERROR_SUCCESS);
    }
    const auto found = value_of(settings.read("ClientAuthTrustMode"));
    CHECK(found.present);
    CHECK(found.type == "REG_SZ");
    CHECK_FALSE(found.number.has_value());
    const auto replaced = value_of(set_schannel(SetSchannelStep{1, std::nullopt}, settings, true));
    CHECK(replaced.values.at(0).before.type == "REG_SZ");
    CHECK(registry_dword(L"ClientAuthTrustMode") == DWORD{1});
}
