#include "core/repair/preflight.hpp"

#include <memory>
#include <set>

#include "core/base/bounded_input.hpp"
#include "core/probe/client_cert_selection.hpp"
#include "core/repair/certificate_trust.hpp"
#include "core/probe/tls_files.hpp"
#include "core/base/text.hpp"

namespace certheal {
namespace {

std::string client_certificate_file(const ClientCert& client_cert) {
    if (const auto* pem = std::get_if<PemClientCert>(&client_cert)) return pem->cert_file.string();
    return std::get<PfxClientCert>(client_cert).pfx_file.string();
}

// What the probe will present for a store client_cert, chosen as the probe chooses it.
PreflightFinding store_certificate_finding(const StoreClientCert& wanted, const SiteConfig& site,
                                           const std::string& pointer, ClientIdentitySource& identities) {
    const std::string used_by = " (used by site " + site.name + " and every site with the same client_cert)";
    auto selected = identities.select(wanted);
    if (!selected) {
        return {PreflightFinding::Level::warning, pointer,
                "certheal has no client certificate to present" + used_by + ": " +
                    as_sentence(as_clause(selected.error().message)) +
                    " Every probe of these sites is client_cert_invalid until one fits."};
    }
    const ClientIdentity& identity = *selected.value();
    const X509& certificate = *identity.certificate;
    std::string message = "selects " + subject_text(certificate) + " (SHA-1 " + sha1_thumbprint(certificate) +
                          ", issued by " + issuer_text(certificate) + ", valid from " +
                          asn1_time_text(X509_get0_notBefore(&certificate)) + " to " +
                          asn1_time_text(X509_get0_notAfter(&certificate)) + ")";
    if (identity.key_home) message += " with its key in " + identity.key_home->provider;
    message += used_by + ".";
    if (identity.key_home && !identity.key_home->limitation.empty()) {
        return {PreflightFinding::Level::warning, pointer, message + " " + as_sentence(identity.key_home->limitation)};
    }
    return {PreflightFinding::Level::ok, pointer, message};
}

std::string names_of(const std::vector<CertificateSummary>& certificates) {
    return join(certificates, "; ", [](const CertificateSummary& certificate) {
        return certificate.subject + " (SHA-1 " + certificate.sha1 + ")";
    });
}

}  // namespace

std::string format_finding(const PreflightFinding& finding) {
    const std::string where = finding.pointer.empty() ? std::string("(host)") : finding.pointer;
    return where + ": " + (finding.level == PreflightFinding::Level::warning ? "warning: " : "") + finding.message;
}

std::vector<PreflightFinding> check_client_certificates(const Config& config, TimePoint now,
                                                        ClientIdentitySource* identities) {
    std::vector<PreflightFinding> findings;
    std::set<std::string> checked;
    for (std::size_t index = 0; index < config.sites.size(); ++index) {
        const auto& site = config.sites[index];
        if (!site.tls.client_cert) continue;
        if (const auto* in_store = std::get_if<StoreClientCert>(&*site.tls.client_cert)) {
            if (identities == nullptr || !checked.insert(store_selector_key(*in_store)).second) continue;
            findings.push_back(store_certificate_finding(*in_store, site,
                                                         "/sites/" + std::to_string(index) + "/tls/client_cert",
                                                         *identities));
            continue;
        }
        const std::string file = client_certificate_file(*site.tls.client_cert);
        if (!checked.insert(file).second) continue;
        auto identity = load_client_identity(*site.tls.client_cert);
        if (!identity) continue;  // config validation has reported why
        const X509& certificate = *identity.value().certificate;
        std::string which = "the client certificate " + subject_text(certificate);
        which += " in " + file + " (used by site " + site.name + " and every site that shares it, valid from ";
        which += asn1_time_text(X509_get0_notBefore(&certificate)) + " to ";
        which += asn1_time_text(X509_get0_notAfter(&certificate)) + ")";
        const std::string pointer = "/sites/" + std::to_string(index) + "/tls/client_cert";
        if (not_after(certificate) <= now) {
            findings.push_back({PreflightFinding::Level::warning, pointer,
                                which + " has expired: every server will refuse it and no repair can cure that. "
                                        "Renew it and point client_cert at the new one."});
        } else if (not_before(certificate) > now) {
            findings.push_back({PreflightFinding::Level::warning, pointer,
                                which + " is not valid yet: servers will refuse it until then. Check this host's "
                                        "clock, or use a certificate that is valid now."});
        }
    }
    return findings;
}

std::vector<PreflightFinding> check_trust_ca_steps(const Config& config, CertificateStores& stores) {
    std::vector<PreflightFinding> findings;
    // Pre-flight only looks: it reads the bundle and never writes it.
    class ReadOnlyFile final : public FileToReplace {
    public:
        explicit ReadOnlyFile(std::string contents) : contents_(std::move(contents)) {}
        const std::string& contents() const override { return contents_; }
        std::uint64_t link_count() const override { return 1; }
        Result<Done> replace(const std::string&) override {
            return Failure{std::make_error_code(std::errc::operation_not_permitted), "pre-flight writes nothing"};
        }

    private:
        std::string contents_;
    };
    class NoWrites final : public FileReplacer {
    public:
        Result<std::unique_ptr<FileToReplace>> open(const std::filesystem::path& file, std::size_t limit) override {
            auto contents = read_file_bounded(file, "the bundle", limit);
            if (!contents) return contents.error();
            return std::unique_ptr<FileToReplace>(std::make_unique<ReadOnlyFile>(std::move(contents.value())));
        }
    } no_writes;
    const auto check = [&](const std::vector<Step>& steps, const std::string& steps_pointer) {
        for (std::size_t index = 0; index < steps.size(); ++index) {
            const auto* trust = std::get_if<TrustCaStep>(&steps[index].action);
            // "store": "auto" is chosen per site when the repair runs (certheal diagnose tells which).
            if (!trust || std::holds_alternative<AutoStoreTarget>(trust->target)) continue;
            const std::string pointer = steps_pointer + "/" + std::to_string(index) + "/trust_ca";
            auto report = trust_ca(*trust, stores, no_writes, /*apply=*/false);
            if (!report) {
                findings.push_back({PreflightFinding::Level::warning, pointer,
                                    "certheal cannot check whether the CA is trusted there now: " +
                                        report.error().message + ". The repair would fail at this step."});
                continue;
            }
            const auto& found = report.value();
            if (found.missing.empty()) {
                findings.push_back({PreflightFinding::Level::ok, pointer,
                                    "in sync: " + names_of(found.present) + " is trusted in " + found.target + "."});
            } else {
                findings.push_back({PreflightFinding::Level::warning, pointer,
                                    "not trusted there: " + names_of(found.missing) + " is missing from " +
                                        found.target +
                                        ", so the server will reject certheal's certificate (the repair step adds it)."});
            }
        }
    };
    check(config.remediation.steps, "/remediation/steps");
    for (std::size_t stage = 0; stage < config.remediation.stages.size(); ++stage) {
        check(config.remediation.stages[stage].steps, "/remediation/stages/" + std::to_string(stage) + "/steps");
    }
    return findings;
}

std::vector<PreflightFinding> check_root_store(CertificateStores& stores) {
    std::vector<PreflightFinding> findings;
    auto misplaced = misplaced_root_certificates(stores);
    if (!misplaced) {
        findings.push_back({PreflightFinding::Level::warning, "",
                            "certheal could not check LocalMachine\\Root for certificates that are not self-signed: " +
                                misplaced.error().message + "."});
        return findings;
    }
    for (const auto& certificate : misplaced.value()) {
        findings.push_back({PreflightFinding::Level::warning, "", misplaced_root_sentence(certificate.summary)});
    }
    return findings;
}

std::vector<PreflightFinding> preflight(const Config& config, CertificateStores& stores, TimePoint now,
                                        ClientIdentitySource* identities) {
    auto findings = check_client_certificates(config, now, identities);
    for (auto& finding : check_trust_ca_steps(config, stores)) findings.push_back(std::move(finding));
    for (auto& finding : check_root_store(stores)) findings.push_back(std::move(finding));
    return findings;
}

}  // namespace certheal
