#include "core/policy/monitor.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include "core/base/time_format.hpp"
#include "core/describe/policy_sentences.hpp"
#include "core/policy/monitor_parts.hpp"

// The monitor's files, by what their parts do:
//   monitor.cpp               start, reload and stop; the probes and what they say about a site
//   monitor_repair.cpp        whether to repair, the repair's start and end; resume and pauses
//   monitor_certificates.cpp  expiring and changed certificates, the Root store
//   monitor_status.cpp        what the status shows, and a changed host trust

namespace certheal {
namespace {

using monitor_detail::kFreshDiagnosis;

nlohmann::json site_names(const std::vector<SiteConfig>& sites) {
    nlohmann::json names = nlohmann::json::array();
    for (const auto& site : sites) names.push_back(site.name);
    return names;
}

}  // namespace

Monitor::Monitor(MonitorPorts ports)
    : ports_(ports), host_trust_(ports.host_trust, ports.stores, ports.workers, ports.clock, ports.client_identities) {
    host_trust_.on_fingerprint_change(
        [this](const HostTrustFingerprint& before, const HostDiagnosis& now) { report_host_trust_change(before, now); });
}

Monitor::~Monitor() = default;

void Monitor::emit(EventId id, const EventSubject& about, std::string message, nlohmann::json details) {
    Event event;
    event.id = id;
    event.time = ports_.clock.wall_now();
    event.site = about.site;
    event.incident = about.incident;
    event.message = std::move(message);
    event.details = std::move(details);
    ports_.events.emit(event);
}

void Monitor::start(Config config) {
    config_ = std::move(config);
    running_ = true;
    policy_ = std::make_unique<RepairPolicy>(config_.remediation, ports_.clock, ports_.state, ports_.events);
    policy_->set_host_lock(ports_.repair_lock);
    workflow_ = std::make_unique<RepairLadder>(WorkflowPorts{ports_.services, ports_.processes, ports_.workers,
                                                             ports_.prober, ports_.clock, ports_.events, ports_.stores,
                                                             ports_.files, ports_.schannel, ports_.binding_trust});

    emit(EventId::service_started, {},
         service_started_message(config_.sites.size(), config_.remediation.dry_run, config_.remediation.enabled),
         {{"config", config_.source.string()},
          {"sites", config_.sites.size()},
          {"site_names", site_names(config_.sites)},
          {"dry_run", config_.remediation.dry_run},
          {"remediation_enabled", config_.remediation.enabled},
          {"version", CERTHEAL_VERSION}});
    // After service_started, so that what reading the history says (a circuit that closed while
    // certheal was stopped, times from the future) follows it in the journal.
    const auto state_warning = policy_->load();
    policy_->close_circuit_on_time();
    policy_->on_change([this] { status_changed(); });
    if (state_warning) {
        emit(EventId::repair_skipped, {},
             state_reset_message(),
             {{"reason", "state_reset"}, {"error", *state_warning}});
    }

    install_sites(config_.sites);
    record_client_certificate_expiry();
    check_certificates();
    check_root_store();
    refresh_host_trust(Duration::zero());
    status_changed();
}

void Monitor::install_sites(const std::vector<SiteConfig>& sites) {
    std::set<std::string> wanted;
    for (const auto& site : sites) {
        wanted.insert(site.name);
        auto found = sites_.find(site.name);
        if (found == sites_.end()) {
            auto [it, inserted] = sites_.emplace(
                site.name, SiteState(site, SiteHealth(site.failure_threshold, site.success_threshold)));
            schedule_probe(it->second, Duration::zero());
        } else {
            // Keep health and incident; new thresholds apply from the next probe on.
            auto& state = found->second;
            const bool thresholds_changed = state.config.failure_threshold != site.failure_threshold ||
                                            state.config.success_threshold != site.success_threshold;
            const bool interval_changed = state.config.interval != site.interval;
            state.config = site;
            if (thresholds_changed && !state.health.symptom_confirmed()) {
                state.health = SiteHealth(site.failure_threshold, site.success_threshold);
            }
            if (interval_changed && !state.probe_in_flight) schedule_probe(state, site.interval);
        }
    }
    for (auto it = sites_.begin(); it != sites_.end();) {
        if (wanted.count(it->first) == 0 && !it->second.probe_in_flight) {
            it = sites_.erase(it);
        } else if (wanted.count(it->first) == 0) {
            it->second.timer.reset();  // erased when its probe returns
            ++it;
        } else {
            ++it;
        }
    }
}

void Monitor::reload(Config config, std::size_t requests) {
    // Bound at start: the journal, state.json and the locks live in state_dir, and the endpoint
    // listens on status_listen. Switching them under a running service would split its records
    // (and its one-instance lock) between two folders, so the running value stays until a restart.
    nlohmann::json needs_restart = nlohmann::json::array();
    nlohmann::json kept = nlohmann::json::object();
    nlohmann::json requested = nlohmann::json::object();
    if (config.service.state_dir != config_.service.state_dir) {
        needs_restart.push_back("service.state_dir");
        kept["service.state_dir"] = config_.service.state_dir.string();
        requested["service.state_dir"] = config.service.state_dir.string();
        config.service.state_dir = config_.service.state_dir;
    }
    const auto listen_text = [](const std::optional<ListenAddress>& listen) {
        return listen ? listen->text() : std::string("none");
    };
    if (listen_text(config.service.status_listen) != listen_text(config_.service.status_listen)) {
        needs_restart.push_back("service.status_listen");
        kept["service.status_listen"] = listen_text(config_.service.status_listen);
        requested["service.status_listen"] = listen_text(config.service.status_listen);
        config.service.status_listen = config_.service.status_listen;
    }
    config_ = std::move(config);
    // The attempt history and the circuit stay: a reload never grants a fresh budget.
    policy_->update_config(config_.remediation);
    install_sites(config_.sites);
    nlohmann::json details = {{"config", config_.source.string()},
                              {"sites", config_.sites.size()},
                              {"site_names", site_names(config_.sites)}};
    if (!needs_restart.empty()) {
        details["needs_restart"] = needs_restart;
        details["kept"] = kept;
        details["requested"] = requested;
    }
    if (requests > 1) details["requests"] = requests;
    emit(EventId::config_reloaded, {},
         config_reloaded_message(config_.sites.size(), !needs_restart.empty()),
         std::move(details));
    record_client_certificate_expiry();
    check_root_store();
    refresh_host_trust(Duration::zero());
    status_changed();
}

void Monitor::schedule_probe(SiteState& site, Duration delay) {
    const std::string name = site.config.name;
    site.next_probe_at = ports_.clock.wall_now() + delay;
    site.timer = ports_.clock.after(delay, [this, name] { probe_now(name); });
}

void Monitor::probe_now(const std::string& site_name) {
    auto found = sites_.find(site_name);
    if (!running_ || found == sites_.end()) return;
    auto& site = found->second;
    // While a repair runs the sites are expected to be down (services are restarting):
    // those probes would only add noise. The workflow's verify step does the probing.
    if (workflow_ && workflow_->running()) {
        schedule_probe(site, site.config.interval);
        return;
    }
    if (site.probe_in_flight) return;
    site.probe_in_flight = true;
    ports_.prober.probe(site.config, [this, site_name](ProbeResult result) {
        on_probe_result(site_name, std::move(result));
    });
}

void Monitor::on_probe_result(const std::string& site_name, ProbeResult result) {
    auto found = sites_.find(site_name);
    if (found == sites_.end()) return;
    auto& site = found->second;
    site.probe_in_flight = false;
    if (!running_) return;
    const bool still_configured = std::any_of(config_.sites.begin(), config_.sites.end(),
                                              [&](const SiteConfig& s) { return s.name == site_name; });
    if (!still_configured) {
        sites_.erase(found);
        return;
    }

    policy_->tick();  // saves the history again when the last save failed
    ++site.probes;
    ++site.class_counts[result.probe_class];
    const auto reading = reading_of(result, site.config);
    if (reading != SiteHealth::Reading::healthy) ++site.failed_probes;
    const auto now = ports_.clock.wall_now();
    const bool class_changed = !site.last_result || site.last_result->probe_class != result.probe_class;
    const bool expiry_changed = !site.last_result || site.last_result->server_cert_not_after != result.server_cert_not_after;
    if (class_changed) site.class_since = now;
    site.last_probe_at = now;
    site.last_result = result;
    check_server_certificate(site, result);
    check_store_client_certificate(site, result);
    const bool was_confirmed = site.health.symptom_confirmed();
    const auto transition = site.health.record(reading);

    if (transition == SiteHealth::Transition::symptom_confirmed) {
        site.incident = next_incident_id();
        site.evidence = result;
        site.last_skip_reason.clear();
        site.dry_run_reported = false;
        site.non_symptom_reported = false;  // the symptom's events tell the rest of this run
        site.incident_cause.reset();
        // The host trust diagnosis runs first (on a worker, where there is one), so that the
        // event names the cause; the repair is considered after it.
        const std::string incident = site.incident;
        refresh_host_trust(kFreshDiagnosis, [this, site_name, incident] { confirm_symptom(site_name, incident); });
    } else if (transition == SiteHealth::Transition::recovered) {
        emit(EventId::site_recovered, {.site = site.config.name, .incident = site.incident},
             site_recovered_message(), [&] {
                 auto details = probe_evidence(result);
                 details["good_probes"] = site.config.success_threshold;
                 return details;
             }());
        site.incident.clear();
        site.evidence.reset();
    }
    report_unhealthy(site, result, reading, was_confirmed);

    if (site.health.symptom_confirmed() && reading == SiteHealth::Reading::symptomatic &&
        transition != SiteHealth::Transition::symptom_confirmed) {
        consider_repair(site);
    }
    // consider_repair may have started a repair; the next regular probe still gets scheduled
    // (probe_now skips while the repair runs).
    auto again = sites_.find(site_name);
    if (again != sites_.end() && running_) schedule_probe(again->second, again->second.config.interval);
    const bool significant = class_changed || expiry_changed || transition != SiteHealth::Transition::none;
    status_changed(significant ? StatusChange::significant : StatusChange::routine);
}

// probe_failed and probe_recovered: the journal says what changes, not every probe. A symptom
// class is said on every probe until it is confirmed (failure_threshold bounds them); a class
// that is not a symptom (a 500 all day) is said when a run of failures starts and each time its
// class changes, and probe_recovered ends the run. certheal_probe_class_total counts every probe.
void Monitor::report_unhealthy(SiteState& site, const ProbeResult& result, SiteHealth::Reading reading,
                               bool was_confirmed) {
    if (reading == SiteHealth::Reading::healthy) {
        if (site.non_symptom_reported && !site.health.symptom_confirmed()) {
            auto details = probe_evidence(result);
            details["failed_class"] = std::string(to_string(site.failing_class.value_or(ProbeClass::healthy)));
            details["failed_since"] = site.failing_since ? nlohmann::json(format_time_utc(*site.failing_since))
                                                         : nlohmann::json(nullptr);
            details["failed_probes"] = site.failing_probes;
            emit(EventId::probe_recovered, {.site = site.config.name},
                 probe_recovered_message(),
                 std::move(details));
        }
        site.failing_class.reset();
        site.failing_since.reset();
        site.failing_probes = 0;
        site.non_symptom_reported = false;
        return;
    }
    const bool changed = site.failing_class != result.probe_class;
    if (!site.failing_class) site.failing_since = ports_.clock.wall_now();
    site.failing_class = result.probe_class;
    ++site.failing_probes;
    if (was_confirmed || site.health.symptom_confirmed()) return;  // the incident's events tell it

    const bool symptom = reading == SiteHealth::Reading::symptomatic;
    if (!symptom && !changed) return;  // the same class as the probe before: counted, not written
    if (!symptom) site.non_symptom_reported = true;
    emit(EventId::probe_failed, {.site = site.config.name},
         symptom ? symptom_probe_failed_message(site.health.consecutive_symptomatic(), site.config.failure_threshold)
                 : other_probe_failed_message(),
         [&] {
             auto details = probe_evidence(result);
             details["consecutive"] = site.health.consecutive_symptomatic();
             details["failure_threshold"] = site.config.failure_threshold;
             return details;
         }());
}

void Monitor::confirm_symptom(const std::string& site_name, const std::string& incident) {
    auto found = sites_.find(site_name);
    if (!running_ || found == sites_.end() || found->second.incident != incident || !found->second.evidence) return;
    auto& site = found->second;
    site.incident_cause = host_trust_.cause_of(site_name);
    const ProbeResult& result = *site.evidence;
    auto details = with_host_trust(probe_evidence(result), site_name);
    details["failed_probes"] = site.config.failure_threshold;
    bool diagnosed = false;
    if (const auto* latest = host_trust_.latest(); latest != nullptr && site.incident_cause &&
                                                   *site.incident_cause != TrustCause::none_found) {
        if (const auto* found_site = latest->site(site_name); found_site && !found_site->findings.empty()) {
            details["diagnosis"] = found_site->findings.front().sentence;
            diagnosed = true;
        }
    }
    emit(EventId::symptom_confirmed, {.site = site.config.name, .incident = site.incident},
         std::string("certheal confirmed the client-certificate symptom and will repair it if its policy allows.") +
             (diagnosed ? " The host trust diagnosis names a cause (see cause and diagnosis)." : ""),
         std::move(details));
    if (site.health.symptom_confirmed() && site.last_result &&
        reading_of(*site.last_result, site.config) == SiteHealth::Reading::symptomatic) {
        consider_repair(site);
    }
}

void Monitor::stop(std::string reason, std::function<void()> done) {
    if (stopping_) return;
    stopping_ = true;
    running_ = false;
    stop_reason_ = std::move(reason);
    host_trust_.stop();
    for (auto& [name, site] : sites_) site.timer.reset();
    certificate_timer_.reset();
    if (workflow_ && workflow_->running()) {
        on_stopped_ = std::move(done);
        workflow_->cancel();
        return;
    }
    emit(EventId::service_stopped, {}, "certheal stopped (" + stop_reason_ + ").", {{"reason", stop_reason_}});
    if (done) done();
}

std::string Monitor::next_incident_id() { return make_incident_id(ports_.clock.wall_now(), ++incident_sequence_); }

void Monitor::status_changed(StatusChange change) {
    if (status_listener_) status_listener_(change);
}

}  // namespace certheal
