#include "service/win/certificate_stores.hpp"

#include <windows.h>
#include <wincrypt.h>

#include <cstring>

#include "service/win/handles.hpp"
#include "service/win/win_error.hpp"
#include "core/model/certificate_stores.hpp"

namespace certheal::win {
namespace {

constexpr DWORD kCertificateEncoding = X509_ASN_ENCODING | PKCS_7_ASN_ENCODING;

// More copies of one certificate than a system store has physical stores means the deletes
// are not taking effect: stop rather than loop.
constexpr int kMostCopiesInOneStore = 8;


enum class Access {
    read,              // list: never creates, never writes
    change_existing,   // remove: never creates
    change_or_create,  // add
};

// A store name is one registry key below SOFTWARE\Microsoft\SystemCertificates: an empty
// name would be that key itself, and a backslash would reach into another store's keys.
bool is_plain_store_name(const std::string& store) {
    return !store.empty() && store.find('\\') == std::string::npos && store.find('/') == std::string::npos;
}

bool means_no_such_store(DWORD error) {
    return error == ERROR_FILE_NOT_FOUND || error == static_cast<DWORD>(HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND)) ||
           error == ERROR_PATH_NOT_FOUND;
}

// The open store, or an empty CertStore when the store does not exist (never for
// Access::change_or_create, which creates it).
Result<CertStore> open_store(const std::string& store, Access access, const std::string& purpose) {
    if (!is_plain_store_name(store)) {
        return win32_failure(ERROR_INVALID_NAME, "certheal cannot open \"" + store +
                                                     "\" as a LocalMachine certificate store " + purpose +
                                                     ", because a store name is a single word such as Root or CA");
    }
    DWORD flags = CERT_SYSTEM_STORE_LOCAL_MACHINE;
    if (access != Access::change_or_create) flags |= CERT_STORE_OPEN_EXISTING_FLAG;
    if (access == Access::read) flags |= CERT_STORE_READONLY_FLAG;
    const std::wstring name = to_utf16(store);
    CertStore opened(::CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, 0, flags, name.c_str()));
    if (!opened) {
        const DWORD error = ::GetLastError();
        if (access != Access::change_or_create && means_no_such_store(error)) return CertStore{};
        return win32_failure(error, "certheal could not open the " + local_machine_store(store) + " certificate store " + purpose);
    }
    return opened;
}

std::string upper_hex(const BYTE* bytes, DWORD size) {
    static constexpr char kDigits[] = "0123456789ABCDEF";
    std::string text;
    text.reserve(size * 2);
    for (DWORD index = 0; index < size; ++index) {
        text += kDigits[bytes[index] >> 4];
        text += kDigits[bytes[index] & 0x0f];
    }
    return text;
}

struct ParsedCertificate {
    CertContext context;
    BYTE sha1[20] = {};
    DWORD sha1_size = sizeof(sha1);
    std::string thumbprint;  // upper-case hex, as certlm.msc, certutil and PowerShell's Cert: drive show it
};

// Decodes `certificate` before any store is opened, so that bad bytes are reported as what
// they are and never reach (or create) a store.
Result<ParsedCertificate> parse(const DerCertificate& certificate, const std::string& doing) {
    ParsedCertificate parsed;
    if (certificate.empty() || certificate.size() > MAXDWORD) {
        return win32_failure(static_cast<DWORD>(CRYPT_E_ASN1_EOD),
                             "certheal could not " + doing + ", because it was given " +
                                 (certificate.empty() ? "no bytes" : "too many bytes") +
                                 " instead of one DER-encoded X.509 certificate");
    }
    parsed.context.reset(::CertCreateCertificateContext(kCertificateEncoding,
                                                        reinterpret_cast<const BYTE*>(certificate.data()),
                                                        static_cast<DWORD>(certificate.size())));
    if (!parsed.context) {
        return last_error_failure("certheal could not " + doing +
                                  ", because the bytes it was given are not one DER-encoded X.509 certificate");
    }
    if (!::CertGetCertificateContextProperty(parsed.context.get(), CERT_SHA1_HASH_PROP_ID, parsed.sha1,
                                             &parsed.sha1_size)) {
        return last_error_failure("certheal could not " + doing +
                                  ", because it could not compute the certificate's SHA-1 thumbprint");
    }
    parsed.thumbprint = upper_hex(parsed.sha1, parsed.sha1_size);
    return parsed;
}

// Wine's registry store keeps changes in memory and writes them when the store is closed, where
// a failure would go unseen: committing first reports it. Windows writes each change at once and
// has nothing left to commit; a provider that cannot commit has nothing to commit either.
Result<Done> commit(HCERTSTORE store, const std::string& what) {
    if (::CertControlStore(store, 0, CERT_STORE_CTRL_COMMIT, nullptr)) return success();
    const DWORD error = ::GetLastError();
    if (error == ERROR_CALL_NOT_IMPLEMENTED || error == ERROR_NOT_SUPPORTED ||
        error == static_cast<DWORD>(E_NOTIMPL)) {
        return success();
    }
    return win32_failure(error, what);
}

bool same_bytes(PCCERT_CONTEXT context, const DerCertificate& certificate) {
    return context->cbCertEncoded == certificate.size() &&
           std::memcmp(context->pbCertEncoded, certificate.data(), certificate.size()) == 0;
}

}  // namespace

Result<std::vector<DerCertificate>> SystemCertificateStores::list(const std::string& store) {
    auto opened = open_store(store, Access::read, "to list its certificates");
    if (!opened) return opened.error();
    std::vector<DerCertificate> certificates;
    if (!opened.value()) return certificates;  // a store that does not exist is empty

    CertContext current;
    for (;;) {
        // CertEnumCertificatesInStore frees the context it continues from.
        PCCERT_CONTEXT next = ::CertEnumCertificatesInStore(opened.value().get(), current.release());
        if (next == nullptr) {
            const DWORD error = ::GetLastError();
            if (error == static_cast<DWORD>(CRYPT_E_NOT_FOUND) || error == ERROR_NO_MORE_FILES) break;
            return win32_failure(error, "certheal could not read the certificates of the " + local_machine_store(store) +
                                            " certificate store");
        }
        current.reset(next);
        certificates.emplace_back(reinterpret_cast<const char*>(next->pbCertEncoded), next->cbCertEncoded);
    }
    return certificates;
}

Result<CertificateStores::Added> SystemCertificateStores::add(const std::string& store,
                                                              const DerCertificate& certificate) {
    auto parsed = parse(certificate, "add a certificate to the " + local_machine_store(store) + " certificate store");
    if (!parsed) return parsed.error();
    const std::string& thumbprint = parsed.value().thumbprint;

    auto opened = open_store(store, Access::change_or_create,
                             "to add the certificate with SHA-1 thumbprint " + thumbprint);
    if (!opened) return opened.error();
    if (!::CertAddEncodedCertificateToStore(opened.value().get(), X509_ASN_ENCODING,
                                            reinterpret_cast<const BYTE*>(certificate.data()),
                                            static_cast<DWORD>(certificate.size()), CERT_STORE_ADD_NEW, nullptr)) {
        const DWORD error = ::GetLastError();
        if (error == static_cast<DWORD>(CRYPT_E_EXISTS)) return Added::already_present;
        return win32_failure(error, "certheal could not add the certificate with SHA-1 thumbprint " + thumbprint +
                                        " to the " + local_machine_store(store) + " certificate store");
    }
    auto written = commit(opened.value().get(), "certheal could not save the certificate with SHA-1 thumbprint " +
                                                    thumbprint + " in the " + local_machine_store(store) + " certificate store");
    if (!written) return written.error();
    return Added::added;
}

Result<CertificateStores::Removed> SystemCertificateStores::remove(const std::string& store,
                                                                   const DerCertificate& certificate) {
    auto parsed = parse(certificate, "remove a certificate from the " + local_machine_store(store) + " certificate store");
    if (!parsed) return parsed.error();
    const std::string& thumbprint = parsed.value().thumbprint;

    auto opened = open_store(store, Access::change_existing,
                             "to remove the certificate with SHA-1 thumbprint " + thumbprint);
    if (!opened) return opened.error();
    if (!opened.value()) return Removed::not_present;  // a store that does not exist holds nothing

    CRYPT_HASH_BLOB hash{parsed.value().sha1_size, parsed.value().sha1};
    int removed = 0;
    CertContext candidate;
    while (removed < kMostCopiesInOneStore) {
        // CertFindCertificateInStore frees the context it continues from.
        PCCERT_CONTEXT next = ::CertFindCertificateInStore(opened.value().get(), kCertificateEncoding, 0,
                                                           CERT_FIND_SHA1_HASH, &hash, candidate.release());
        if (next == nullptr) {
            const DWORD error = ::GetLastError();
            if (error == static_cast<DWORD>(CRYPT_E_NOT_FOUND) || error == ERROR_NO_MORE_FILES) break;
            return win32_failure(error, "certheal could not search the " + local_machine_store(store) +
                                            " certificate store for the certificate with SHA-1 thumbprint " +
                                            thumbprint);
        }
        candidate.reset(next);
        if (!same_bytes(next, certificate)) continue;  // a SHA-1 collision: not this certificate
        // CertDeleteCertificateFromStore frees the context it is given, even when it fails; the
        // search then starts again from the beginning, as its place in the store is gone.
        if (!::CertDeleteCertificateFromStore(candidate.release())) {
            return last_error_failure("certheal could not remove the certificate with SHA-1 thumbprint " +
                                      thumbprint + " from the " + local_machine_store(store) + " certificate store");
        }
        ++removed;
    }
    if (removed == 0) return Removed::not_present;
    auto written = commit(opened.value().get(), "certheal could not save the removal of the certificate with SHA-1 "
                                                "thumbprint " + thumbprint + " from the " + local_machine_store(store) +
                                                " certificate store");
    if (!written) return written.error();
    return Removed::removed;
}

}  // namespace certheal::win
