#include "core/repair/host_trust_steps.hpp"

#include <algorithm>
#include <cctype>
#include <iterator>
#include <system_error>
#include <utility>

#include <openssl/x509v3.h>

#include "core/base/text.hpp"
#include "core/model/certificate_stores.hpp"

namespace certheal {
namespace {

Failure failure(std::errc code, std::string message) { return Failure{std::make_error_code(code), std::move(message)}; }

bool same_store(const std::string& a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}


std::string origin_clause(const BindingTrust& binding) {
    return binding.issuer_store_why.empty() ? std::string() : " (" + binding.issuer_store_why + ")";
}

std::string mode_text(std::uint32_t mode) {
    switch (mode) {
        case 0: return "ClientAuthTrustMode is 0 (machine trust)";
        case 1: return "ClientAuthTrustMode is 1 (exclusive root trust)";
        case 2: return "ClientAuthTrustMode is 2 (exclusive CA trust)";
        default: return "ClientAuthTrustMode is " + std::to_string(mode) + ", which Windows does not define, so machine trust applies";
    }
}

X509Ptr shared_copy(const X509Ptr& certificate) {
    X509_up_ref(certificate.get());
    return X509Ptr(certificate.get());
}

std::string registry_value_name(std::string_view name) { return std::string(name) + " under " + std::string(kSchannelKey); }

std::string undo_sentence(std::string_view name, const RegistryDword& before) {
    if (!before.present) {
        return "It was absent (Windows then uses its default): to undo, delete the value " + registry_value_name(name) +
               ".";
    }
    if (before.number) {
        return "It was " + std::to_string(*before.number) + ": to undo, set the REG_DWORD " + registry_value_name(name) +
               " back to " + std::to_string(*before.number) + ".";
    }
    return "It was a " + before.type + ", which Windows ignores: to undo, delete the value " +
           registry_value_name(name) + ".";
}

}  // namespace

std::string registry_value_text(const RegistryDword& value) {
    if (!value.present) return "absent";
    if (value.number) return std::to_string(*value.number);
    return value.type + " (Windows ignores it)";
}

// --- trust_ca "store": "auto" ----------------------------------------------------------------

std::vector<StorePlacement> choose_trust_stores(const BindingTrust& binding, bool self_signed) {
    const std::string& issuers = binding.issuer_store;
    const std::string origin = origin_clause(binding);
    const std::uint32_t mode = binding.trust_mode;
    if (mode == 2) {
        if (self_signed || !same_store(issuers, "Root")) {
            return {{issuers, mode_text(mode) + ": Schannel trusts only the certificates in " + local_machine_store(issuers) +
                                  origin + ", where a root or an intermediate CA is a trust anchor"}};
        }
        return {{"CA", mode_text(mode) + " and Schannel takes its trusted issuers from LocalMachine\\Root" + origin +
                           ", where a certificate that is not self-signed breaks client authentication (KB 2802568); "
                           "Windows finds the intermediate in LocalMachine\\CA"}};
    }
    if (mode == 1) {
        if (self_signed) {
            return {{issuers, mode_text(mode) + ": Schannel accepts only a chain that ends in a root held in " +
                                  local_machine_store(issuers) + origin}};
        }
        return {{"CA", mode_text(mode) + ": an intermediate CA is no trust anchor in " + local_machine_store(issuers) +
                           ", so it goes to LocalMachine\\CA, where Windows finds it to build the chain"}};
    }
    if (!self_signed) {
        return {{"CA", mode_text(mode) + ": Windows builds the chain through the intermediates of LocalMachine\\CA"}};
    }
    std::vector<StorePlacement> placements{
        {"Root", mode_text(mode) + ": Schannel accepts a chain that ends in a root of LocalMachine\\Root"}};
    if (binding.issuer_store_from_binding && !same_store(issuers, "Root")) {
        placements.push_back({issuers, "the site's binding takes its trusted issuers from " + local_machine_store(issuers) +
                                           origin + ", and Schannel refuses a certificate whose root is not there"});
    }
    return placements;
}

Result<AutoTrustReport> trust_ca_auto(const TrustCaStep& step, const std::vector<SiteConfig>& sites,
                                      BindingTrustSource* source, CertificateStores& stores, bool apply) {
    if (source == nullptr || !source->available()) {
        return failure(std::errc::not_supported,
                       "certheal cannot tell which store Schannel trusts on this host, because the host trust "
                       "diagnosis is not available here (trust_ca with \"store\": \"auto\" is a Windows step); name "
                       "the store instead");
    }
    if (sites.empty()) return failure(std::errc::invalid_argument, "there is no site to choose the store for");
    auto authorities = load_certificates(step.certificate);
    if (!authorities) return authorities.error();

    AutoTrustReport report;
    std::vector<std::pair<std::string, std::vector<X509Ptr>>> per_store;  // in the order first chosen
    for (const auto& site : sites) {
        auto binding = source->binding_trust(site);
        if (!binding) {
            auto problem = binding.error();
            problem.message = "for site " + site.name + ", certheal could not read which store Schannel trusts: " +
                              as_clause(problem.message);
            return problem;
        }
        SiteStoreChoice choice{site.name, binding.value(), {}};
        for (const auto& authority : authorities.value()) {
            for (auto& placement : choose_trust_stores(binding.value(), is_self_signed(*authority))) {
                auto found = std::find_if(per_store.begin(), per_store.end(),
                                          [&](const auto& entry) { return same_store(entry.first, placement.store); });
                if (found == per_store.end()) {
                    per_store.emplace_back(placement.store, std::vector<X509Ptr>{});
                    found = std::prev(per_store.end());
                }
                const bool listed = std::any_of(found->second.begin(), found->second.end(),
                                                [&](const X509Ptr& held) { return held.get() == authority.get(); });
                if (!listed) found->second.push_back(shared_copy(authority));
                choice.placements.push_back({CertificateSummary::of(*authority), std::move(placement)});
            }
        }
        report.sites.push_back(std::move(choice));
    }
    for (const auto& [store, certificates] : per_store) {
        auto added = trust_ca_in_store(certificates, store, stores, apply);
        if (!added) {
            auto problem = added.error();
            if (report.changed) problem.message += " (what certheal added to the stores before stays)";
            return problem;
        }
        report.changed = report.changed || added.value().changed;
        report.stores.push_back(std::move(added.value()));
    }
    return report;
}

// --- add_intermediates ------------------------------------------------------------------------

Result<IntermediatesReport> add_intermediates(const AddIntermediatesStep& step, CertificateStores& stores, bool apply) {
    auto certificates = load_certificates(step.certificate);
    if (!certificates) return certificates.error();
    IntermediatesReport report;
    report.file = step.certificate.string();
    std::vector<X509Ptr> intermediates;
    for (const auto& certificate : certificates.value()) {
        if (X509_check_ca(certificate.get()) != 0 && !is_self_signed(*certificate)) {
            intermediates.push_back(shared_copy(certificate));
        } else {
            report.not_added.push_back(CertificateSummary::of(*certificate));
        }
    }
    if (intermediates.empty()) {
        report.store.target = "LocalMachine\\CA";
        return report;
    }
    auto added = trust_ca_in_store(intermediates, "CA", stores, apply);
    if (!added) return added.error();
    report.store = std::move(added.value());
    return report;
}

// --- set_schannel ------------------------------------------------------------------------------

Result<SchannelReport> set_schannel(const SetSchannelStep& step, SchannelSettings& settings, bool apply) {
    std::vector<std::pair<std::string_view, std::uint32_t>> wanted;
    if (step.client_auth_trust_mode) wanted.emplace_back(kClientAuthTrustModeValue, *step.client_auth_trust_mode);
    if (step.send_trusted_issuer_list) wanted.emplace_back(kSendTrustedIssuerListValue, *step.send_trusted_issuer_list ? 1U : 0U);

    SchannelReport report;
    for (const auto& [name, value] : wanted) {
        auto before = settings.read(name);
        if (!before) {
            auto problem = before.error();
            problem.message = "certheal could not read " + registry_value_name(name) + ": " + as_clause(problem.message);
            return problem;
        }
        SchannelValueChange change;
        change.name = std::string(name);
        change.before = before.value();
        change.wanted = value;
        change.changed = !(change.before.number && *change.before.number == value);
        change.undo = undo_sentence(name, change.before);
        report.values.push_back(std::move(change));
    }
    if (!apply) return report;

    const auto written_so_far = [&report] {
        std::vector<std::string> written;
        for (const auto& change : report.values) {
            if (change.after) written.push_back(change.name + " (" + change.undo + ")");
        }
        return written.empty() ? std::string() : "; certheal had already written " + list_text(written);
    };
    for (auto& change : report.values) {
        if (!change.changed) continue;
        if (auto written = settings.write(change.name, change.wanted); !written) {
            auto problem = written.error();
            problem.message = "certheal could not set " + registry_value_name(change.name) + " to " +
                              std::to_string(change.wanted) + ": " + as_clause(problem.message) + written_so_far();
            return problem;
        }
        auto after = settings.read(change.name);
        if (!after) {
            auto problem = after.error();
            problem.message = "certheal set " + registry_value_name(change.name) +
                              " but could not read it back: " + as_clause(problem.message);
            return problem;
        }
        change.after = after.value();
        report.changed = true;
        if (!(after.value().number && *after.value().number == change.wanted)) {
            return failure(std::errc::io_error, "certheal set " + registry_value_name(change.name) + " to " +
                                                    std::to_string(change.wanted) + ", but it reads back as " +
                                                    registry_value_text(after.value()) + written_so_far());
        }
    }
    return report;
}

// --- what the step events say --------------------------------------------------------------

nlohmann::json certificates_json(const std::vector<CertificateSummary>& certificates) {
    auto list = nlohmann::json::array();
    for (const auto& certificate : certificates) {
        list.push_back({{"subject", certificate.subject},
                        {"issuer", certificate.issuer},
                        {"sha1", certificate.sha1},
                        {"sha256", certificate.sha256},
                        {"not_after", certificate.not_after}});
    }
    return list;
}

std::string certificates_text(const std::vector<CertificateSummary>& certificates) {
    std::vector<std::string> names;
    names.reserve(certificates.size());
    for (const auto& certificate : certificates) names.push_back(certificate.subject + " (SHA-1 " + certificate.sha1 + ")");
    return list_text(names);
}

namespace {

nlohmann::json registry_json(const RegistryDword& value) {
    if (!value.present) return nullptr;
    if (value.number) return *value.number;
    return {{"type", value.type}};
}

}  // namespace

StepStory story_of(const AutoTrustReport& report, bool dry_run) {
    StepStory story;
    story.details["target"] = "auto";
    auto choices = nlohmann::json::array();
    std::vector<std::string> reasons;
    for (const auto& site : report.sites) {
        auto placements = nlohmann::json::array();
        for (const auto& [certificate, placement] : site.placements) {
            placements.push_back({{"subject", certificate.subject},
                                  {"sha1", certificate.sha1},
                                  {"store", placement.store},
                                  {"why", placement.why}});
            reasons.push_back("for site " + site.site + ", certheal chose " + local_machine_store(placement.store) + " for " +
                              certificate.subject + " because " + placement.why);
        }
        choices.push_back({{"site", site.site},
                           {"binding", site.binding.binding.empty() ? nlohmann::json(nullptr)
                                                                    : nlohmann::json(site.binding.binding)},
                           {"trust_mode", site.binding.trust_mode},
                           {"issuer_store", site.binding.issuer_store},
                           {"issuer_store_why", site.binding.issuer_store_why},
                           {"placements", std::move(placements)}});
    }
    story.details["choices"] = std::move(choices);
    auto stores = nlohmann::json::array();
    std::vector<std::string> added;
    std::vector<std::string> present;
    for (const auto& store : report.stores) {
        stores.push_back({{"target", store.target},
                          {dry_run ? "would_add" : "added", certificates_json(store.missing)},
                          {"already_present", certificates_json(store.present)}});
        if (!store.missing.empty()) added.push_back(certificates_text(store.missing) + " to " + store.target);
        if (!store.present.empty()) present.push_back(certificates_text(store.present) + " in " + store.target);
    }
    story.details["stores"] = std::move(stores);
    story.details["changed"] = dry_run ? false : report.changed;
    const std::string chosen = "; " + join(reasons, "; ");
    story.would = (added.empty() ? "would change nothing: " + list_text(present) + " already there"
                                 : "would add " + list_text(added)) +
                  chosen;
    story.summary = (added.empty() ? list_text(present) + ": already there, nothing changed" : "added " + list_text(added)) +
                    chosen;
    return story;
}

StepStory story_of(const IntermediatesReport& report, bool dry_run) {
    StepStory story;
    const TrustCaReport& store = report.store;
    story.details["target"] = store.target;
    story.details["already_present"] = certificates_json(store.present);
    story.details["not_intermediates"] = certificates_json(report.not_added);
    story.details[dry_run ? "would_add" : "added"] = certificates_json(store.missing);
    story.details["changed"] = dry_run ? false : store.changed;
    const bool none = store.missing.empty() && store.present.empty();
    const std::string nothing = report.file + " holds no intermediate CA certificate (only self-signed or non-CA ones)";
    story.would = none                    ? "would change nothing: " + nothing
                  : store.missing.empty() ? "would change nothing: " + certificates_text(store.present) +
                                                " already in LocalMachine\\CA"
                                          : "would add " + certificates_text(store.missing) + " to LocalMachine\\CA";
    story.summary = none            ? nothing + "; nothing changed"
                    : store.changed ? "added " + certificates_text(store.missing) + " to LocalMachine\\CA"
                                    : certificates_text(store.present) + (store.present.size() == 1 ? " was" : " were") +
                                          " already in LocalMachine\\CA; nothing changed";
    return story;
}

StepStory story_of(const SchannelReport& report, bool dry_run) {
    StepStory story;
    auto previous = nlohmann::json::object();
    auto wanted = nlohmann::json::object();
    std::vector<std::string> changes;
    std::vector<std::string> kept;
    std::vector<std::string> undo;
    for (const auto& value : report.values) {
        previous[value.name] = registry_json(value.before);
        wanted[value.name] = value.wanted;
        if (value.changed) {
            changes.push_back(value.name + " from " + registry_value_text(value.before) + " to " +
                              std::to_string(value.wanted));
            undo.push_back(value.undo);
        } else {
            kept.push_back(value.name + " (already " + std::to_string(value.wanted) + ")");
        }
    }
    const std::string key(kSchannelKey);
    story.details["key"] = key;
    story.details["previous"] = previous;
    story.details[dry_run ? "would_set" : "set"] = wanted;
    story.details["undo"] = undo;
    story.details["changed"] = dry_run ? false : report.changed;
    story.would = changes.empty() ? "would change nothing: " + list_text(kept)
                                  : "would set " + list_text(changes) + " under " + key;
    story.summary = changes.empty() ? list_text(kept) + " under " + key + "; nothing changed"
                                    : "set " + list_text(changes) + " under " + key + ". " + join(undo, " ") +
                                          " Windows applies Schannel settings only after a restart of the web service "
                                          "(W3SVC/WAS, or HTTP) or a reboot, so a later stage should restart it";
    return story;
}

}  // namespace certheal
