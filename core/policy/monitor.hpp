#pragma once
// The monitor: schedules the probes of every site, feeds each site's hysteresis, opens an
// incident when a symptom is confirmed, asks the host-wide repair policy for a repair and runs
// the workflow, and records every step as an event. Everything runs on the monitor's one
// thread (the io_context behind `Clock`); blocking work goes through the WorkerPool.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/model/config_model.hpp"
#include "core/base/clock.hpp"
#include "core/model/events.hpp"
#include "core/model/ports.hpp"
#include "core/model/trust_cause.hpp"
#include "core/policy/host_trust_watch.hpp"
#include "core/policy/repair_policy.hpp"
#include "core/policy/site_health.hpp"
#include "core/repair/repair_ladder.hpp"

namespace certheal {

struct MonitorPorts {
    Clock& clock;
    SiteProber& prober;
    ServiceManager& services;
    ProcessRunner& processes;
    WorkerPool& workers;
    StateStore& state;
    EventSink& events;
    CertificateStores& stores;
    FileReplacer& files;
    RepairLock* repair_lock = nullptr;  // the host-wide lock; none in unit tests
    // Schannel, http.sys and crypt32 for the host trust diagnosis (Windows); none: no diagnosis.
    HostTrustInspector* host_trust = nullptr;
    SchannelSettings* schannel = nullptr;         // set_schannel (Windows)
    BindingTrustSource* binding_trust = nullptr;  // trust_ca "store": "auto" (Windows)
    // Where a store client certificate is selected, for the diagnosis (Windows).
    ClientIdentitySource* client_identities = nullptr;
};

// What `certheal status`, status.json and the status endpoint show about one site.
struct SiteStatus {
    std::string name;
    bool symptom_confirmed = false;
    std::string incident;
    std::optional<ProbeResult> last_result;
    std::uint64_t probes = 0;
    std::uint64_t failed_probes = 0;
    std::optional<TimePoint> class_since;   // when the last result's class was first seen in a row
    std::optional<TimePoint> last_probe_at;
    std::optional<TimePoint> next_probe_at;
    std::optional<TimePoint> client_cert_not_after;  // of the certificate certheal presents
    std::optional<TrustCause> cause;  // the host trust diagnosis for this site, where it ran
    std::map<ProbeClass, std::uint64_t> class_counts;  // every probe since certheal started, by class
    std::optional<RepairPolicy::Pause> pause;  // this site's own pause (`certheal pause --site`), while in force
};

// The latest host trust diagnosis, where one ran (Windows).
struct HostTrustStatus {
    std::string fingerprint;
    TimePoint diagnosed_at{};
    std::vector<std::string> causes;  // every cause found for some site, in the order of kAllTrustCauses
};

// What changed in status(): a state a person or an alert acts on (a site's class or incident, a
// repair, the policy, the configuration), or only counters and probe times. The service writes
// status.json and the metrics textfile soon after the first kind, and seldom for the second.
enum class StatusChange { routine, significant };

struct MonitorStatus {
    TimePoint generated_at{};
    std::vector<SiteStatus> sites;
    bool remediation_enabled = true;
    bool dry_run = false;
    bool repair_running = false;
    std::string repair_incident;  // of the running repair
    bool circuit_open = false;
    std::optional<TimePoint> circuit_opened_at;
    std::optional<TimePoint> circuit_closes_at;
    int attempts_in_window = 0;
    int max_attempts = 0;
    std::optional<TimePoint> cooldown_until;  // only while it lies ahead
    std::optional<RepairPolicy::LastRepair> last_repair;
    std::optional<RepairPolicy::Pause> host_pause;  // `certheal pause` without --site, while in force
    std::uint64_t repairs_started = 0;
    std::uint64_t repairs_succeeded = 0;
    std::uint64_t repairs_failed = 0;
    std::optional<HostTrustStatus> host_trust;
};

class Monitor {
public:
    explicit Monitor(MonitorPorts ports);
    ~Monitor();
    Monitor(const Monitor&) = delete;
    Monitor& operator=(const Monitor&) = delete;

    // Starts probing every site of a validated config (the first probe of each site runs
    // at once) and writes service_started.
    void start(Config config);

    // Puts a validated config in force. Sites that keep their name keep their health and
    // incident; a repair that is running finishes under the policy it started with.
    // service.state_dir and service.status_listen are bound at start (the journal, the state
    // and its locks live in the one, the endpoint listens on the other): a change of either is
    // said in config_reloaded (needs_restart) and the running value is kept until a restart.
    // `requests`: how many reload requests this one answers (a burst of SIGHUPs is one reload).
    void reload(Config config, std::size_t requests = 1);

    // Stops scheduling probes and cancels a running repair (its current step finishes or is
    // abandoned safely), writes service_stopped, then calls `done` on the monitor thread.
    void stop(std::string reason, std::function<void()> done);

    // An operator's `certheal resume`: closes the circuit and clears the repair budget (see
    // RepairPolicy::reset_circuit). False while a repair runs (it is then refused, and said).
    bool resume(const std::string& who);

    // `certheal pause` or `unpause` changed the saved state: read it again, so that the status
    // shows it and the pause ends on time (a repair decision reads it anyway).
    void refresh_pauses();

    MonitorStatus status() const;
    const Config& config() const { return config_; }
    // The latest host trust diagnosis (Windows; null elsewhere or before the first one returns).
    const HostDiagnosis* host_diagnosis() const noexcept { return host_trust_.latest(); }

    // Called (on the monitor's thread) whenever what status() shows has changed: a probe
    // result, a repair, the policy. The caller decides how often to write it out.
    void on_status_change(std::function<void(StatusChange)> listener) { status_listener_ = std::move(listener); }

private:
    struct SiteState {
        SiteState(SiteConfig site, SiteHealth site_health) : config(std::move(site)), health(site_health) {}
        SiteConfig config;
        SiteHealth health;
        std::unique_ptr<TimerHandle> timer;
        bool probe_in_flight = false;
        std::string incident;                // set while a symptom is confirmed
        std::optional<ProbeResult> evidence; // the probe that confirmed the symptom
        std::optional<ProbeResult> last_result;
        std::string last_skip_reason;        // repair_skipped is written once per reason per incident
        bool dry_run_reported = false;
        std::uint64_t probes = 0;
        std::uint64_t failed_probes = 0;
        std::optional<TimePoint> class_since;
        std::optional<TimePoint> last_probe_at;
        std::optional<TimePoint> next_probe_at;
        std::optional<TimePoint> client_cert_not_after;
        std::optional<TimePoint> server_expiry_reported;  // certificate_expiring said for this notAfter
        // The cause the host trust diagnosis named when the incident's symptom was confirmed, and
        // again before its repair; unset where no diagnosis runs.
        std::optional<TrustCause> incident_cause;
        std::map<ProbeClass, std::uint64_t> class_counts;
        // The current run of unhealthy probes (empty while healthy): the class of the latest,
        // since when, how many, and whether probe_failed said a class that is not a symptom in it
        // (then probe_recovered ends it).
        std::optional<ProbeClass> failing_class;
        std::optional<TimePoint> failing_since;
        std::uint64_t failing_probes = 0;
        bool non_symptom_reported = false;
    };

    void install_sites(const std::vector<SiteConfig>& sites);
    void schedule_probe(SiteState& site, Duration delay);
    void probe_now(const std::string& site_name);
    void on_probe_result(const std::string& site_name, ProbeResult result);
    void consider_repair(SiteState& trigger);
    void decide_repair(SiteState& trigger);
    void start_repair(SiteState& trigger);
    void on_repair_finished(const std::string& incident, const RepairLadder::Outcome& outcome);
    IncidentFacts incident_facts(const SiteState& site) const;
    bool no_stage_matches(SiteState& trigger);
    void confirm_symptom(const std::string& site_name, const std::string& incident);
    void refresh_host_trust(Duration fresh_for, std::function<void()> then = nullptr);
    void report_host_trust_change(const HostTrustFingerprint& before, const HostDiagnosis& now);
    nlohmann::json with_host_trust(nlohmann::json details, const std::string& site) const;
    void report_skip(SiteState& site, const RepairPolicy::Decision& decision);
    void check_certificates();
    void record_client_certificate_expiry();
    void check_server_certificate(SiteState& site, const ProbeResult& result);
    void status_changed(StatusChange change = StatusChange::significant);
    void report_unhealthy(SiteState& site, const ProbeResult& result, SiteHealth::Reading reading, bool was_confirmed);
    void check_store_client_certificate(SiteState& site, const ProbeResult& result);
    void warn_if_client_certificate_expiring(const SiteConfig& site, TimePoint expires);
    void check_root_store();
    std::string next_incident_id();
    // Who an event is about; named fields, so a site can never be passed as an incident.
    struct EventSubject {
        std::string site = {};      // empty: not about one site
        std::string incident = {};  // empty: not part of an incident
    };
    void emit(EventId id, const EventSubject& about, std::string message,
              nlohmann::json details = nlohmann::json::object());

    MonitorPorts ports_;
    Config config_;
    std::map<std::string, SiteState> sites_;
    std::unique_ptr<RepairPolicy> policy_;
    std::unique_ptr<RepairLadder> workflow_;  // the repair: a ladder of stages, or one list of steps
    std::string repair_incident_;  // incident of the repair that is running, if any
    std::string repair_site_;      // the site whose symptom started it
    HostTrustWatch host_trust_;
    bool diagnosing_before_repair_ = false;
    std::unique_ptr<TimerHandle> certificate_timer_;
    std::set<std::string> reported_root_certificates_;  // SHA-1 of misplaced ones already reported
    // The store client certificate each selector (store_selector_key) last presented.
    std::map<std::string, PresentedCertificate> presented_store_certificates_;
    std::function<void()> on_stopped_;
    std::function<void(StatusChange)> status_listener_;
    std::string stop_reason_;
    bool running_ = false;
    bool stopping_ = false;
    int incident_sequence_ = 0;
    std::uint64_t repairs_started_ = 0;
    std::uint64_t repairs_succeeded_ = 0;
    std::uint64_t repairs_failed_ = 0;
};

}  // namespace certheal
