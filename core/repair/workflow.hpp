#pragma once
// Runs the configured repair steps, in order, for one incident.
//
// Every blocking call (child processes, service stops and starts) goes through the
// WorkerPool with a stop_token, so the monitor's thread never blocks; verify probes go
// through the SiteProber and wait between rounds on Clock timers. Each step emits
// step_succeeded or step_failed; the first failed step ends the workflow.
//
// Re-entrancy: with inline ports `done` may run before start() (or cancel()) returns, and
// the owner may destroy the Workflow inside `done`; the Workflow touches nothing of itself
// after calling `done`. `done` runs at most once per start(). Destroying a running Workflow
// cancels its current call and `done` is never called.
//
// Dry run: every step emits step_succeeded with details.dry_run = true and a "Dry run: ... would run"
// message, and nothing that changes anything is called on the ports: not even verify probes,
// because a repair that did not happen cannot be verified and a probe of a still-broken site
// would only make the dry run look like a failed repair. trust_ca, fix_root_store,
// add_intermediates and set_schannel read their store, bundle or registry value (on a worker)
// to say what they would change.
//
// Inside a repair ladder (core/repair/repair_ladder) one start() runs one stage: its steps and,
// last, the stage's own verify; every step event then names the stage.
//
// The ports and the sink must outlive the Workflow and any step still running on a worker.
// Single-threaded: call everything on the monitor's thread.

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model/config_model.hpp"
#include "core/model/certificate_stores.hpp"
#include "core/base/clock.hpp"
#include "core/model/events.hpp"
#include "core/model/host_settings.hpp"
#include "core/model/ports.hpp"
#include "core/repair/current_execution.hpp"

namespace certheal {

struct WorkflowPorts {
    ServiceManager& services;
    ProcessRunner& processes;
    WorkerPool& workers;
    SiteProber& prober;
    Clock& clock;
    EventSink& events;
    CertificateStores& stores;  // trust_ca into a store, fix_root_store, add_intermediates
    FileReplacer& files;        // trust_ca into a bundle
    SchannelSettings* schannel = nullptr;         // set_schannel; none: the step fails saying so
    BindingTrustSource* binding_trust = nullptr;  // trust_ca "store": "auto"; none: likewise
};

class Workflow {
public:
    struct Outcome {
        bool succeeded = false;
        bool cancelled = false;
        bool verified = false;  // a verify step ran and saw every site healthy
        std::optional<std::size_t> failed_step;  // 0-based index into the steps (events say "step N", 1-based)
        std::string error;                       // a sentence: what failed (or why it was cancelled)
        Duration duration{};
        // Dependents that stop_service steps stopped and no restore_dependents started again:
        // the next stage of a ladder can still restore them.
        std::vector<std::string> stopped_dependents;
    };

    // Where a run stands in a repair ladder, said in every step event.
    struct StagePlace {
        std::string name;
        std::size_t number = 0;  // 1-based
        std::size_t count = 0;
        bool ends_with_stage_verify = false;  // the last step is the verify the stage ends with
    };

    struct Request {
        std::vector<Step> steps;
        std::string incident;
        std::vector<SiteConfig> sites_to_verify;  // the sites verify steps probe (the symptomatic ones)
        bool dry_run = false;
        std::optional<StagePlace> stage;          // none: the repair's one list of steps
        std::vector<std::string> stopped_dependents;  // stopped by an earlier stage, not yet started again
    };

    explicit Workflow(WorkflowPorts ports);
    ~Workflow();
    Workflow(const Workflow&) = delete;
    Workflow& operator=(const Workflow&) = delete;

    // Starts the steps. Throws std::logic_error when a workflow is already running.
    // `sites_to_verify` are the sites verify steps probe (the symptomatic ones).
    void start(const std::vector<Step>& steps, std::string incident, std::vector<SiteConfig> sites_to_verify,
               bool dry_run, std::function<void(Outcome)> done);
    void start(Request request, std::function<void(Outcome)> done);

    // Asks the current blocking call to stop (through its stop_token) and starts no further step;
    // `done` runs with cancelled = true once the current step has returned. When the workflow is
    // only waiting between verify rounds, `done` runs before cancel() returns. No-op when idle.
    void cancel();

    bool running() const;

private:
    class Execution;

    WorkflowPorts ports_;
    CurrentExecution<Execution> execution_;
};

// The last `max_bytes` of `text`, cut on a UTF-8 boundary, with invalid UTF-8 replaced by '?',
// prefixed with "..." when something was cut: safe to put into an event (JSON needs UTF-8).
std::string output_tail_for_event(const std::string& text, std::size_t max_bytes = 2048);

}  // namespace certheal
