// certheal_certstore_tool: what an administrator does with certlm.msc or certutil, for the
// Wine end-to-end scripts.
//   certheal_certstore_tool add STORE FILE      adds every certificate of FILE (PEM or DER)
//   certheal_certstore_tool remove STORE FILE   removes every certificate of FILE
//   certheal_certstore_tool has STORE FILE      exit 0 when every certificate of FILE is there, 1 when not
//   certheal_certstore_tool list STORE          one line per certificate: SHA-1 thumbprint (upper-case
//                                               hex), subject, issuer (RFC 2253), tab-separated
// STORE is a LocalMachine system store (Root, CA, ...). add, remove and list go through
// certheal's SystemCertificateStores, the adapter under test; has asks crypt32 directly, so a
// script that adds with one and checks with the other tests the adapter against crypt32.
// Exit codes: 0 done (has: all present), 1 has: some missing, 2 bad usage or a failure.
// Output lines end in LF only, so that scripts need no `tr -d '\r'`.

#include <windows.h>
// wincrypt.h defines X509_NAME as a macro; OpenSSL's headers undefine it, so they come after.
#include <wincrypt.h>
#include <fcntl.h>
#include <io.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certstore_support.hpp"
#include "service/win/certificate_stores.hpp"
#include "service/win/win_error.hpp"

namespace {

using certheal::CertificateStores;
using certheal::DerCertificate;
using certheal::win::to_utf8;

constexpr int kDone = 0;
constexpr int kMissing = 1;
constexpr int kFailed = 2;

int usage() {
    std::fputs(
        "usage: certheal_certstore_tool add|remove|has STORE FILE\n"
        "       certheal_certstore_tool list STORE\n"
        "STORE is a LocalMachine system store such as Root or CA; FILE holds PEM or DER certificates.\n",
        stderr);
    return kFailed;
}

int fail(const std::string& message) {
    std::fprintf(stderr, "certheal_certstore_tool: %s\n", message.c_str());
    return kFailed;
}

struct X509Free {
    void operator()(X509* certificate) const noexcept { X509_free(certificate); }
};
struct BioFree {
    void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};

std::string rfc2253(const X509_NAME* name) {
    std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
    X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(size));
}

// "THUMBPRINT\tsubject\tissuer", or the thumbprint alone with a note when OpenSSL cannot read it.
std::string describe(const DerCertificate& certificate) {
    unsigned char sha1[EVP_MAX_MD_SIZE];
    unsigned int sha1_size = 0;
    EVP_Digest(certificate.data(), certificate.size(), sha1, &sha1_size, EVP_sha1(), nullptr);
    static constexpr char kDigits[] = "0123456789ABCDEF";
    std::string line;
    for (unsigned int index = 0; index < sha1_size; ++index) {
        line += kDigits[sha1[index] >> 4];
        line += kDigits[sha1[index] & 0x0f];
    }
    const auto* bytes = reinterpret_cast<const unsigned char*>(certificate.data());
    std::unique_ptr<X509, X509Free> parsed(d2i_X509(nullptr, &bytes, static_cast<long>(certificate.size())));
    if (!parsed) return line + "\t(OpenSSL cannot decode this certificate)\t";
    return line + "\t" + rfc2253(X509_get_subject_name(parsed.get())) + "\t" +
           rfc2253(X509_get_issuer_name(parsed.get()));
}

int list(CertificateStores& stores, const std::string& store) {
    const auto certificates = stores.list(store);
    if (!certificates) return fail(certificates.error().message);
    for (const auto& certificate : certificates.value()) std::printf("%s\n", describe(certificate).c_str());
    return kDone;
}

int change(CertificateStores& stores, const std::string& verb, const std::string& store,
           const std::vector<DerCertificate>& certificates) {
    for (const auto& certificate : certificates) {
        const std::string thumbprint = describe(certificate).substr(0, 40);
        if (verb == "add") {
            const auto added = stores.add(store, certificate);
            if (!added) return fail(added.error().message);
            std::printf("%s %s LocalMachine\\%s\n", thumbprint.c_str(),
                        added.value() == CertificateStores::Added::added ? "added to" : "was already in",
                        store.c_str());
        } else {
            const auto removed = stores.remove(store, certificate);
            if (!removed) return fail(removed.error().message);
            std::printf("%s %s LocalMachine\\%s\n", thumbprint.c_str(),
                        removed.value() == CertificateStores::Removed::removed ? "removed from" : "was not in",
                        store.c_str());
        }
    }
    return kDone;
}

int has(const std::string& store, const std::vector<DerCertificate>& certificates) {
    const std::wstring wide_store = certheal::win::to_utf16(store);
    int status = kDone;
    for (const auto& certificate : certificates) {
        const auto present = certstore_test::crypt32_store_has(wide_store, certificate);
        if (!present) return fail(present.error().message);
        std::printf("%s %s LocalMachine\\%s\n", describe(certificate).substr(0, 40).c_str(),
                    present.value() ? "is in" : "is not in", store.c_str());
        if (!present.value()) status = kMissing;
    }
    return status;
}

}  // namespace

int wmain(int argc, wchar_t** argv) {
    _setmode(_fileno(stdout), _O_BINARY);
    std::vector<std::string> arguments;
    for (int index = 1; index < argc; ++index) arguments.push_back(to_utf8(argv[index]));
    if (arguments.size() < 2) return usage();
    const std::string& verb = arguments[0];
    const std::string& store = arguments[1];

    certheal::win::SystemCertificateStores stores;
    if (verb == "list") return arguments.size() == 2 ? list(stores, store) : usage();
    if (arguments.size() != 3 || (verb != "add" && verb != "remove" && verb != "has")) return usage();

    const auto certificates = certstore_test::read_certificate_file(std::filesystem::path(argv[3]));
    if (!certificates) return fail(certificates.error().message);
    if (verb == "has") return has(store, certificates.value());
    return change(stores, verb, store, certificates.value());
}
