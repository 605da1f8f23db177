#include "service/win/host_trust_inspector.hpp"

#include <windows.h>
#define CERT_CHAIN_PARA_HAS_EXTRA_FIELDS
#include <wincrypt.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <type_traits>

#include "service/win/handles.hpp"
#include "service/win/win_error.hpp"
#include "core/model/certificate_stores.hpp"

// SchannelHostTrustInspector::build_chain(): CertGetCertificateChain the way Schannel builds a
// client's chain.
namespace certheal::win {
namespace {

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
            return last_error_failure("certheal could not make a chain engine whose only roots are " +
                                      local_machine_store(*request.exclusive_store));
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
