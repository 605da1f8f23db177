#include "core/policy/monitor.hpp"

#include <chrono>
#include <memory>
#include <set>
#include <utility>

#include "core/base/time_format.hpp"
#include "core/describe/policy_sentences.hpp"
#include "core/policy/monitor_parts.hpp"
#include "core/probe/certificate_info.hpp"
#include "core/probe/client_cert_selection.hpp"
#include "core/probe/tls_files.hpp"
#include "core/repair/certificate_trust.hpp"

// The certificates the monitor watches besides the probes' verdict: the client certificate's and
// the server certificate's expiry, a store client certificate that changed, and certificates
// misplaced in the Root store.

namespace certheal {
namespace {

constexpr auto kCertificateCheckInterval = std::chrono::hours(24);
constexpr auto kCertificateWarningHorizon = std::chrono::hours(24 * 30);

}  // namespace


void Monitor::check_certificates() {
    for (const auto& site : config_.sites) {
        if (!site.tls.client_cert) continue;
        if (std::holds_alternative<StoreClientCert>(*site.tls.client_cert)) {
            // The store's choice, as the last probe saw it (the first one says it itself).
            const auto state = sites_.find(site.name);
            if (state != sites_.end() && state->second.client_cert_not_after) {
                warn_if_client_certificate_expiring(site, *state->second.client_cert_not_after);
            }
            continue;
        }
        auto identity = load_client_identity(*site.tls.client_cert);
        if (!identity.ok()) continue;  // the probe reports it on every round
        warn_if_client_certificate_expiring(site, not_after(*identity.value().certificate));
    }
    // The host trust is diagnosed again on the same daily round: a farm node whose trust drifted
    // says so (host_trust_changed) even while its sites stay healthy.
    certificate_timer_ = ports_.clock.after(std::chrono::duration_cast<Duration>(kCertificateCheckInterval), [this] {
        check_certificates();
        refresh_host_trust(Duration::zero());
    });
}

void Monitor::warn_if_client_certificate_expiring(const SiteConfig& site, TimePoint expires) {
    const auto now = ports_.clock.wall_now();
    if (expires - now > kCertificateWarningHorizon) return;
    const auto days_left = std::chrono::duration_cast<std::chrono::hours>(expires - now).count() / 24;
    const bool in_store = std::holds_alternative<StoreClientCert>(*site.tls.client_cert);
    emit(EventId::certificate_expiring, {.site = site.name},
         client_certificate_expiring_message(expires <= now, in_store),
         {{"certificate", "client"}, {"not_after", format_time_utc(expires)}, {"days_left", days_left}});
}

// A store client certificate is chosen again at every probe, and the probe says which one it
// presented. Another one than before (a renewal, or the old one back because the new one went)
// is said once per selector, however many sites share it, with both thumbprints; from then on
// its notAfter is what status and certificate_expiring watch.
void Monitor::check_store_client_certificate(SiteState& site, const ProbeResult& result) {
    const auto& client_cert = site.config.tls.client_cert;
    const auto* in_store = client_cert ? std::get_if<StoreClientCert>(&*client_cert) : nullptr;
    if (in_store == nullptr || !result.client_cert) return;
    const PresentedCertificate& now_presented = *result.client_cert;
    site.client_cert_not_after = now_presented.not_after;
    const std::string selector = store_selector_key(*in_store);
    const auto known = presented_store_certificates_.find(selector);
    if (known == presented_store_certificates_.end()) {
        presented_store_certificates_.emplace(selector, now_presented);
        warn_if_client_certificate_expiring(site.config, now_presented.not_after);
        return;
    }
    if (known->second.sha1 == now_presented.sha1) return;
    const PresentedCertificate before = std::exchange(known->second, now_presented);
    std::vector<std::string> sharing;
    for (const auto& other : config_.sites) {
        const auto* other_store =
            other.tls.client_cert ? std::get_if<StoreClientCert>(&*other.tls.client_cert) : nullptr;
        if (other_store != nullptr && store_selector_key(*other_store) == selector) sharing.push_back(other.name);
    }
    const bool newer = now_presented.not_before > before.not_before;
    emit(EventId::client_cert_changed, {.site = site.config.name},
         client_certificate_changed_message(sharing.size(), newer),
         {{"store", local_machine_store(in_store->store)},
          {"selector", describe_store_selector(*in_store)},
          {"sha1", now_presented.sha1},
          {"subject", now_presented.subject},
          {"not_before", format_time_utc(now_presented.not_before)},
          {"not_after", format_time_utc(now_presented.not_after)},
          {"previous_sha1", before.sha1},
          {"previous_subject", before.subject},
          {"previous_not_after", format_time_utc(before.not_after)},
          {"sites", sharing}});
    warn_if_client_certificate_expiring(site.config, now_presented.not_after);
}

void Monitor::check_root_store() {
    if (!ports_.stores.available()) return;
    // Reading the store blocks (crypt32 reads the registry): do it on a worker.
    auto found = std::make_shared<std::optional<Result<std::vector<MisplacedRootCertificate>>>>();
    ports_.workers.submit([&stores = ports_.stores, found] { found->emplace(misplaced_root_certificates(stores)); },
                          [this, found] {
                              if (stopping_ || !*found || !found->value()) return;
                              std::set<std::string> still_there;
                              for (const auto& certificate : found->value().value()) {
                                  const auto& summary = certificate.summary;
                                  still_there.insert(summary.sha1);
                                  if (!reported_root_certificates_.insert(summary.sha1).second) continue;
                                  emit(EventId::root_store_misplaced, {},
                                       root_store_misplaced_message(),
                                       {{"subject", summary.subject},
                                        {"issuer", summary.issuer},
                                        {"sha1", summary.sha1},
                                        {"sha256", summary.sha256},
                                        {"not_after", summary.not_after}});
                              }
                              // A certificate that was moved out and comes back is reported again.
                              std::erase_if(reported_root_certificates_, [&](const std::string& sha1) {
                                  return still_there.count(sha1) == 0;
                              });
                          });
}

void Monitor::record_client_certificate_expiry() {
    for (auto& [name, site] : sites_) {
        const auto& client_cert = site.config.tls.client_cert;
        // A store certificate's notAfter comes from the probes: the store chooses at each one.
        if (client_cert && std::holds_alternative<StoreClientCert>(*client_cert)) continue;
        site.client_cert_not_after.reset();
        if (!client_cert) continue;
        auto identity = load_client_identity(*site.config.tls.client_cert);
        if (identity.ok()) site.client_cert_not_after = not_after(*identity.value().certificate);
    }
}

// The server's certificate lapsing breaks the site as surely as a lost trust, and certheal
// sees it on every probe: said once per certificate (a renewed one has a new notAfter).
void Monitor::check_server_certificate(SiteState& site, const ProbeResult& result) {
    if (!result.server_cert_not_after) return;
    const auto expires = *result.server_cert_not_after;
    const auto now = ports_.clock.wall_now();
    if (expires - now > kCertificateWarningHorizon) return;
    if (site.server_expiry_reported == expires) return;
    site.server_expiry_reported = expires;
    const auto days_left = std::chrono::duration_cast<std::chrono::hours>(expires - now).count() / 24;
    emit(EventId::certificate_expiring, {.site = site.config.name},
         server_certificate_expiring_message(expires <= now, config_.remediation.web_server),
         {{"certificate", "server"}, {"not_after", format_time_utc(expires)}, {"days_left", days_left}});
}

}  // namespace certheal
