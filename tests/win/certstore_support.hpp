#pragma once
// For the certificate-store tests and certheal_certstore_tool: certificates read from PEM or
// DER files (with OpenSSL), and lookups in the LocalMachine stores made straight with crypt32
// and the registry, independent of certheal's SystemCertificateStores, so that each can check
// the other.

#include <windows.h>
// wincrypt.h defines X509_NAME as a macro; OpenSSL's headers undefine it, so they come after.
#include <wincrypt.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/model/certificate_stores.hpp"
#include "core/base/result.hpp"
#include "service/win/handles.hpp"
#include "service/win/win_error.hpp"

namespace certstore_test {

using certheal::DerCertificate;
using certheal::Failure;
using certheal::Result;

inline Failure file_failure(const std::filesystem::path& file, const std::string& why) {
    return Failure{std::make_error_code(std::errc::invalid_argument),
                   certheal::win::to_utf8(file.wstring()) + " " + why};
}

// Every certificate of a PEM file (the exact bytes inside each CERTIFICATE block; other blocks
// such as keys are skipped), or the file's bytes when it is not PEM (a DER .cer file).
inline Result<std::vector<DerCertificate>> read_certificate_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return file_failure(file, "cannot be opened for reading");
    const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (content.empty()) return file_failure(file, "is empty; expected PEM or DER certificates");
    if (content.find("-----BEGIN ") == std::string::npos) return std::vector<DerCertificate>{content};

    struct BioFree {
        void operator()(BIO* bio) const noexcept { BIO_free(bio); }
    };
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(content.data(), static_cast<int>(content.size())));
    std::vector<DerCertificate> certificates;
    for (;;) {
        char* name = nullptr;
        char* header = nullptr;
        unsigned char* data = nullptr;
        long length = 0;
        ERR_clear_error();
        if (PEM_read_bio(bio.get(), &name, &header, &data, &length) != 1) {
            const unsigned long error = ERR_peek_last_error();
            ERR_clear_error();
            // Running out of blocks is how the loop ends; anything else is a broken block.
            if (ERR_GET_LIB(error) == ERR_LIB_PEM && ERR_GET_REASON(error) == PEM_R_NO_START_LINE) break;
            return file_failure(file, "holds a PEM block that cannot be decoded (bad base64 or a missing END line)");
        }
        const std::string block_name = name;
        if (block_name == "CERTIFICATE" || block_name == "X509 CERTIFICATE") {
            certificates.emplace_back(reinterpret_cast<const char*>(data), static_cast<size_t>(length));
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
    }
    if (certificates.empty()) return file_failure(file, "holds no CERTIFICATE block");
    return certificates;
}

// Whether HKLM\SOFTWARE\Microsoft\SystemCertificates\<store> exists: where crypt32 keeps a
// LocalMachine system store, on Windows and Wine alike.
inline bool store_key_exists(const std::wstring& store) {
    certheal::win::RegKey key;
    const std::wstring path = L"SOFTWARE\\Microsoft\\SystemCertificates\\" + store;
    return ::RegOpenKeyExW(HKEY_LOCAL_MACHINE, path.c_str(), 0, KEY_READ, key.out()) == ERROR_SUCCESS;
}

// Whether LocalMachine\<store> holds `certificate`, byte for byte, asked straight of crypt32:
// the SHA-1 hash from CryptHashCertificate, CERT_FIND_SHA1_HASH, then the bytes compared.
// A store that does not exist holds nothing.
inline Result<bool> crypt32_store_has(const std::wstring& store, const DerCertificate& certificate) {
    const std::string shown = "LocalMachine\\" + certheal::win::to_utf8(store);
    BYTE sha1[20] = {};
    DWORD sha1_size = sizeof(sha1);
    if (!::CryptHashCertificate(0, CALG_SHA1, 0, reinterpret_cast<const BYTE*>(certificate.data()),
                                static_cast<DWORD>(certificate.size()), sha1, &sha1_size)) {
        return certheal::win::last_error_failure("the test could not hash a certificate to look for in " + shown);
    }
    certheal::win::CertStore opened(::CertOpenStore(
        CERT_STORE_PROV_SYSTEM_W, 0, 0,
        CERT_SYSTEM_STORE_LOCAL_MACHINE | CERT_STORE_OPEN_EXISTING_FLAG | CERT_STORE_READONLY_FLAG, store.c_str()));
    if (!opened) {
        if (::GetLastError() == ERROR_FILE_NOT_FOUND) return false;
        return certheal::win::last_error_failure("the test could not open " + shown + " with crypt32");
    }
    CRYPT_HASH_BLOB hash{sha1_size, sha1};
    certheal::win::CertContext found;
    for (;;) {
        PCCERT_CONTEXT next = ::CertFindCertificateInStore(opened.get(), X509_ASN_ENCODING, 0, CERT_FIND_SHA1_HASH,
                                                           &hash, found.release());
        if (next == nullptr) {
            const DWORD error = ::GetLastError();
            if (error == static_cast<DWORD>(CRYPT_E_NOT_FOUND) || error == ERROR_NO_MORE_FILES) return false;
            return certheal::win::win32_failure(error, "the test could not search " + shown + " with crypt32");
        }
        found.reset(next);
        if (next->cbCertEncoded == certificate.size() &&
            std::equal(certificate.begin(), certificate.end(), reinterpret_cast<const char*>(next->pbCertEncoded))) {
            return true;
        }
    }
}

}  // namespace certstore_test
