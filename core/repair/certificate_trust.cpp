#include "core/repair/certificate_trust.hpp"

#include "core/base/text.hpp"
#include "core/model/certificate_stores.hpp"

#include <algorithm>
#include <memory>
#include <system_error>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

namespace certheal {
namespace {

struct BioFree {
    void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

Failure failure(std::errc code, std::string message) { return Failure{std::make_error_code(code), std::move(message)}; }


bool contains(const std::vector<DerCertificate>& haystack, const DerCertificate& needle) {
    return std::find(haystack.begin(), haystack.end(), needle) != haystack.end();
}

// The certificates of a PEM bundle, in file order. Text between the blocks is allowed (PEM
// comments, other block types are skipped by OpenSSL); a CERTIFICATE block that does not
// decode, or a file with content but no certificate at all, is not a bundle certheal may
// append to.
Result<std::vector<DerCertificate>> bundle_certificates(const std::string& content, const std::filesystem::path& bundle) {
    std::vector<DerCertificate> certificates;
    BioPtr bio(BIO_new_mem_buf(content.data(), static_cast<int>(content.size())));
    if (!bio) return failure(std::errc::not_enough_memory, "certheal could not read the bundle " + quoted(bundle));
    ERR_clear_error();
    while (X509Ptr certificate{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
        certificates.push_back(to_der(*certificate));
    }
    const unsigned long last = ERR_peek_last_error();
    ERR_clear_error();
    const bool clean_end = last == 0 || (ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE);
    if (!clean_end) {
        return failure(std::errc::invalid_argument,
                       "the bundle " + quoted(bundle) + " holds a certificate block that does not decode after " +
                           std::to_string(certificates.size()) +
                           " good one(s); certheal does not append to a damaged bundle, so repair it first");
    }
    const bool has_content = content.find_first_not_of(" \t\r\n") != std::string::npos;
    if (certificates.empty() && has_content) {
        return failure(std::errc::invalid_argument,
                       "the bundle " + quoted(bundle) +
                           " is not a PEM file (it holds no \"-----BEGIN CERTIFICATE-----\" block); certheal only "
                           "appends to PEM bundles, so check that this is the file the web server reads");
    }
    return certificates;
}

std::string pem_of(const X509& certificate) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), const_cast<X509*>(&certificate)) != 1) {
        ERR_clear_error();
        return {};
    }
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    return length > 0 ? std::string(data, static_cast<std::size_t>(length)) : std::string();
}

Result<TrustCaReport> trust_ca_in_bundle(const std::vector<X509Ptr>& authorities, const std::filesystem::path& bundle,
                                         FileReplacer& files, bool apply) {
    TrustCaReport report;
    report.target = bundle.string();
    // Opened once: what is parsed is what was read through that handle, and the replacement
    // goes in only while the name still names that file.
    auto opened = files.open(bundle, kMaxBundleBytes);
    if (!opened) {
        auto problem = opened.error();
        if (problem.code == std::errc::no_such_file_or_directory) {
            problem.message += "; certheal only adds to a bundle the web server already reads";
        }
        return problem;
    }
    FileToReplace& file = *opened.value();
    report.hard_links = file.link_count();
    const std::string& content = file.contents();
    auto present = bundle_certificates(content, bundle);
    if (!present) return present.error();

    std::string appended;
    for (const auto& authority : authorities) {
        const auto der = to_der(*authority);
        if (contains(present.value(), der)) {
            report.present.push_back(CertificateSummary::of(*authority));
            continue;
        }
        const std::string pem = pem_of(*authority);
        if (pem.empty()) {
            return failure(std::errc::invalid_argument, "certheal could not encode " + subject_text(*authority) + " as PEM");
        }
        report.missing.push_back(CertificateSummary::of(*authority));
        present.value().push_back(der);  // a CA listed twice in the certificate file is added once
        appended += pem;
    }
    if (!apply || appended.empty()) return report;

    std::string updated = content;
    if (!updated.empty() && updated.back() != '\n') updated += '\n';
    updated += appended;
    if (auto written = file.replace(updated); !written) return written.error();
    report.changed = true;
    return report;
}

}  // namespace

Result<TrustCaReport> trust_ca_in_store(const std::vector<X509Ptr>& authorities, const std::string& store,
                                        CertificateStores& stores, bool apply) {
    TrustCaReport report;
    report.target = local_machine_store(store);
    auto present = stores.list(store);
    if (!present) return present.error();
    for (const auto& authority : authorities) {
        const auto der = to_der(*authority);
        if (contains(present.value(), der)) {
            report.present.push_back(CertificateSummary::of(*authority));
            continue;
        }
        present.value().push_back(der);
        if (!apply) {
            report.missing.push_back(CertificateSummary::of(*authority));
            continue;
        }
        auto added = stores.add(store, der);
        if (!added) {
            auto problem = added.error();
            if (report.changed) {
                problem.message += " (certheal had already added " + std::to_string(report.missing.size()) +
                                   " certificate(s) there, which stay)";
            }
            return problem;
        }
        if (added.value() == CertificateStores::Added::already_present) {
            report.present.push_back(CertificateSummary::of(*authority));
        } else {
            report.missing.push_back(CertificateSummary::of(*authority));
            report.changed = true;
        }
    }
    return report;
}

Result<TrustCaReport> trust_ca(const TrustCaStep& step, CertificateStores& stores, FileReplacer& files, bool apply) {
    if (std::holds_alternative<AutoStoreTarget>(step.target)) {
        return failure(std::errc::invalid_argument,
                       "trust_ca with \"store\": \"auto\" chooses its store per site; certheal could not tell which");
    }
    auto authorities = load_certificates(step.certificate);
    if (!authorities) return authorities.error();
    if (const auto* store = std::get_if<CertificateStoreTarget>(&step.target)) {
        return trust_ca_in_store(authorities.value(), store->store, stores, apply);
    }
    return trust_ca_in_bundle(authorities.value(), std::get<PemBundleTarget>(step.target).bundle, files, apply);
}

Result<std::vector<MisplacedRootCertificate>> misplaced_root_certificates(CertificateStores& stores) {
    std::vector<MisplacedRootCertificate> misplaced;
    if (!stores.available()) return misplaced;
    auto root = stores.list("Root");
    if (!root) return root.error();
    for (auto& der : root.value()) {
        X509Ptr certificate = from_der(der);
        // A blob crypt32 keeps but OpenSSL cannot decode is not ours to judge (or move).
        if (!certificate || is_self_signed(*certificate)) continue;
        misplaced.push_back({CertificateSummary::of(*certificate), std::move(der)});
    }
    return misplaced;
}

Result<RootStoreReport> fix_root_store(const FixRootStoreStep& step, CertificateStores& stores, bool apply) {
    RootStoreReport report;
    report.move_to = local_machine_store(step.move_to);
    auto misplaced = misplaced_root_certificates(stores);
    if (!misplaced) return misplaced.error();
    const auto moved_so_far = [&report] {
        if (report.moved.empty()) return std::string();
        return " (already moved: " +
               join(report.moved, "; ", [](const CertificateSummary& moved) { return moved.subject; }) + ")";
    };
    for (const auto& certificate : misplaced.value()) {
        if (apply) {
            if (auto added = stores.add(step.move_to, certificate.der); !added) {
                auto problem = added.error();
                problem.message += "; so certheal left " + certificate.summary.subject + " in LocalMachine\\Root" +
                                   moved_so_far();
                return problem;
            }
            if (auto removed = stores.remove("Root", certificate.der); !removed) {
                auto problem = removed.error();
                problem.message += "; " + certificate.summary.subject + " is now in both LocalMachine\\Root and " +
                                   report.move_to + moved_so_far();
                return problem;
            }
            report.changed = true;
        }
        report.moved.push_back(certificate.summary);
    }
    return report;
}

std::string misplaced_root_sentence(const CertificateSummary& certificate) {
    return "LocalMachine\\Root holds " + certificate.subject + " (issued by " + certificate.issuer + ", SHA-1 " +
           certificate.sha1 +
           "), which is not self-signed. With such a certificate in Root, Schannel treats client certificates as "
           "untrusted and IIS answers 403.16 (or 403.7 when it sends its trusted-issuer list), however well the CA is "
           "trusted (KB 2802568). Move it to the Intermediate Certification Authorities store: add the step "
           "{\"fix_root_store\": {\"move_to\": \"CA\"}} or move it in certlm.msc.";
}

}  // namespace certheal
