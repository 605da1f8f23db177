#include "service/win/store_identities.hpp"

#include <optional>
#include <utility>
#include <vector>

#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "core/base/text.hpp"
#include "core/probe/certificate_info.hpp"
#include "core/probe/client_cert_selection.hpp"
#include "service/key_provider.hpp"
#include "service/win/handles.hpp"
#include "service/win/key_signers.hpp"
#include "service/win/win_error.hpp"
#include "core/model/certificate_stores.hpp"

namespace certheal::win {
namespace {

// How long a store read stands for every probe that asks: one read per round of many sites, and
// a renewal is seen by the next probe that comes at least this long after it.
constexpr auto kStoreRereadInterval = std::chrono::seconds(1);
// A store holds a handful of certificates; this many is damage or hostility: read no further.
constexpr std::size_t kMostCertificatesRead = 10000;
constexpr int kMostChainCertificates = 8;

struct StoreEntry {
    StoreCertificate described;
    CertContext context;
};

X509Ptr parse(PCCERT_CONTEXT context) {
    const unsigned char* der = context->pbCertEncoded;
    return X509Ptr(d2i_X509(nullptr, &der, static_cast<long>(context->cbCertEncoded)));
}

bool has_property(PCCERT_CONTEXT context, DWORD property) {
    DWORD size = 0;
    return ::CertGetCertificateContextProperty(context, property, nullptr, &size) != FALSE;
}

std::optional<std::vector<std::string>> extended_key_usages(X509& certificate) {
    int critical = 0;
    auto* usages = static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(&certificate, NID_ext_key_usage, &critical, nullptr));
    if (usages == nullptr) return std::nullopt;
    std::vector<std::string> oids;
    for (int index = 0; index < sk_ASN1_OBJECT_num(usages); ++index) {
        char text[128] = {};
        if (OBJ_obj2txt(text, sizeof text, sk_ASN1_OBJECT_value(usages, index), 1) > 0) oids.emplace_back(text);
    }
    EXTENDED_KEY_USAGE_free(usages);
    return oids;
}

std::optional<StoreCertificate> describe(PCCERT_CONTEXT context) {
    X509Ptr certificate = parse(context);
    if (!certificate) return std::nullopt;  // a store entry OpenSSL cannot read is no candidate
    StoreCertificate described;
    described.thumbprint = sha1_thumbprint(*certificate);
    described.subject = subject_text(*certificate);
    described.issuer = issuer_text(*certificate);
    described.not_before = not_before(*certificate);
    described.not_after = not_after(*certificate);
    described.extended_key_usages = extended_key_usages(*certificate);
    described.has_private_key = has_property(context, CERT_KEY_PROV_INFO_PROP_ID) ||
                                has_property(context, CERT_KEY_CONTEXT_PROP_ID) ||
                                has_property(context, CERT_NCRYPT_KEY_HANDLE_PROP_ID);
    return described;
}

Result<std::vector<StoreEntry>> read_store(const std::string& store) {
    const std::string shown = local_machine_store(store);
    std::vector<StoreEntry> entries;
    const std::wstring name = to_utf16(store);
    CertStore opened(::CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, 0,
                                     CERT_SYSTEM_STORE_LOCAL_MACHINE | CERT_STORE_READONLY_FLAG |
                                         CERT_STORE_OPEN_EXISTING_FLAG,
                                     name.c_str()));
    if (!opened) {
        const DWORD error = ::GetLastError();
        if (error == ERROR_FILE_NOT_FOUND || error == static_cast<DWORD>(HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND))) {
            return entries;  // no such store yet: nothing in it
        }
        return win32_failure(error, "certheal could not open the " + shown + " certificate store to find its client "
                                    "certificate");
    }
    CertContext current;
    while (entries.size() < kMostCertificatesRead) {
        PCCERT_CONTEXT next = ::CertEnumCertificatesInStore(opened.get(), current.release());
        if (next == nullptr) break;
        current.reset(next);
        if (auto described = describe(next)) {
            entries.push_back(StoreEntry{std::move(*described), CertContext(::CertDuplicateCertificateContext(next))});
        }
    }
    return entries;
}

// The intermediates between the certificate and its root, as the LocalMachine chain engine
// finds them in the stores (cached URLs only: no network while a probe waits).
std::vector<X509Ptr> chain_of(PCCERT_CONTEXT certificate) {
    std::vector<X509Ptr> chain;
    CERT_CHAIN_PARA parameters{};
    parameters.cbSize = sizeof parameters;
    PCCERT_CHAIN_CONTEXT built = nullptr;
    if (!::CertGetCertificateChain(HCCE_LOCAL_MACHINE, certificate, nullptr, nullptr, &parameters,
                                   CERT_CHAIN_CACHE_ONLY_URL_RETRIEVAL, nullptr, &built) ||
        built == nullptr) {
        return chain;
    }
    if (built->cChain > 0 && built->rgpChain[0] != nullptr) {
        const CERT_SIMPLE_CHAIN* simple = built->rgpChain[0];
        const int elements = static_cast<int>(std::min<DWORD>(simple->cElement, kMostChainCertificates));
        for (int index = 1; index < elements; ++index) {
            X509Ptr element = parse(simple->rgpElement[index]->pCertContext);
            if (!element) break;
            if (is_self_signed(*element)) break;  // the root: the server has it or it is of no use
            chain.push_back(std::move(element));
        }
    }
    ::CertFreeCertificateChain(built);
    return chain;
}

}  // namespace

Result<SharedIdentity> identity_of_certificate(PCCERT_CONTEXT certificate, const std::string& store) {
    X509Ptr parsed = parse(certificate);
    if (!parsed) {
        return Failure{std::make_error_code(std::errc::invalid_argument),
                       "a certificate of " + store + " is not one OpenSSL can read"};
    }
    auto opened = open_certificate_key(certificate, store);
    if (!opened) return opened.error();
    auto key = make_signer_key(opened.value().signer, *parsed);
    if (!key) return key.error();
    ClientIdentity identity;
    identity.private_key = std::move(key.value());
    identity.chain = chain_of(certificate);
    KeyHome home = std::move(opened.value().home);
    home.thumbprint = sha1_thumbprint(*parsed);
    home.store = store;
    home.last_signing_failure = [weak = std::weak_ptr<KeySigner>(opened.value().signer)] {
        auto signer = weak.lock();
        return signer ? signer->take_last_failure() : std::nullopt;
    };
    identity.key_home = std::move(home);
    identity.certificate = std::move(parsed);
    return SharedIdentity(std::make_shared<const ClientIdentity>(std::move(identity)));
}

StoreClientIdentities::StoreClientIdentities(std::function<std::chrono::steady_clock::time_point()> monotonic_now)
    : monotonic_now_(std::move(monotonic_now)) {}

Result<SharedIdentity> StoreClientIdentities::select(const StoreClientCert& wanted) {
    std::lock_guard lock(mutex_);
    const std::string key = store_selector_key(wanted);
    const auto now = monotonic_now_();
    auto known = choices_.find(key);
    if (known != choices_.end() && now - known->second.read_at < kStoreRereadInterval) {
        if (known->second.failure) return *known->second.failure;
        return known->second.identity;
    }
    // A failure stands for the interval too: a thousand sites without a certificate read the store once.
    auto failed = [&](Failure failure) -> Result<SharedIdentity> {
        choices_[key] = Choice{now, std::string(), nullptr, failure};
        return failure;
    };

    auto entries = read_store(wanted.store);
    if (!entries) return failed(entries.error());
    std::vector<StoreCertificate> described;
    described.reserve(entries.value().size());
    for (const auto& entry : entries.value()) described.push_back(entry.described);
    auto chosen = choose_store_certificate(wanted, described, std::chrono::system_clock::now());
    if (!chosen) return failed(chosen.error());
    const StoreEntry& entry = entries.value()[chosen.value()];
    if (known != choices_.end() && known->second.identity && known->second.thumbprint == entry.described.thumbprint) {
        known->second.read_at = now;
        return known->second.identity;
    }
    auto identity = identity_of_certificate(entry.context.get(), local_machine_store(wanted.store));
    if (!identity) return failed(identity.error());
    choices_[key] = Choice{now, entry.described.thumbprint, identity.value(), std::nullopt};
    return identity;
}

}  // namespace certheal::win
