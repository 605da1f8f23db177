#include "service/daemon.hpp"

#include <iostream>
#include <utility>

#include <boost/asio/post.hpp>

#include "core/base/text.hpp"
#include "service/daemon_refusals.hpp"
#include "service/exit_code.hpp"
#include "service/start_checks.hpp"

namespace certheal {
namespace {

// How often a journal that cannot be written is tried again.
constexpr Duration kJournalRetry = std::chrono::seconds(30);
// A burst of reload or resume requests (SIGHUP, SIGUSR1, SCM controls) is answered once, when
// the requests have stopped for kControlQuiet, at the latest kControlLongest after the first.
constexpr Duration kControlQuiet = std::chrono::milliseconds(300);
constexpr Duration kControlLongest = std::chrono::seconds(2);
// How often free heap pages go back to the system (see platform::release_free_memory).
constexpr auto kTrimInterval = std::chrono::minutes(1);
constexpr Duration kSettleBeforeTrim = std::chrono::seconds(3);

}  // namespace

Daemon::Daemon(std::filesystem::path config_path, MonitorHost& host)
    : config_path_(std::move(config_path)),
      host_(host),
      adapters_(platform::make_adapters()),
      status_file_("status file", *adapters_.own_files, events_),
      textfile_("metrics textfile", *adapters_.own_files, events_),
      // Free heap goes back once a round has settled (no status change for a few seconds), and
      // at least once a minute when sites are probed so often that it never settles.
      trims_(clock_, kSettleBeforeTrim, kTrimInterval, [](std::size_t) { platform::release_free_memory(); }),
      // The live status for `certheal status` and the textfile collector: written soon after a
      // significant change, seldom for counters alone; nothing runs while idle.
      status_write_(clock_, [this] { publish_status(/*quiet=*/false); }),
      status_server_(io_, [this] { return monitor_->status(); }),
      resumes_(clock_, kControlQuiet, kControlLongest, [this](std::size_t requests) { resume(requests); }),
      // `certheal pause` / `unpause` saved a change: read it again (a burst is one reading).
      pause_changes_(clock_, kControlQuiet, kControlLongest, [this](std::size_t) { monitor_->refresh_pauses(); }),
      reloads_(clock_, kControlQuiet, kControlLongest, [this](std::size_t requests) { reload(requests); }) {}

Daemon::~Daemon() = default;

int Daemon::run() {
    host_.starting();
    if (const auto refused = start()) return *refused;
    host_.running();
    io_.run();
    return finish();
}

std::optional<int> Daemon::start() {
    auto config = load_checked_config();
    if (!config) return cli::usage;
    if (const auto refused = claim_state_folder(*config, *adapters_.system_log, instance_, clock_.wall_now())) {
        return *refused;
    }
    state_dir_ = config->service.state_dir;
    pid_ = platform::current_process_id();
    wire(*config);
    controls_ = host_.attach(io_, [this](platform::ControlRequest request, const std::string& reason) {
        on_control(request, reason);
    });
    const std::optional<ListenAddress> status_listen = config->service.status_listen;
    monitor_->start(std::move(*config));
    if (status_listen) serve_status(*status_listen);
    return std::nullopt;
}

std::optional<Config> Daemon::load_checked_config() {
    // One cache of decoded certificates and keys for validation (start and every reload) and
    // the prober: each file is decoded once per version.
    config_context_ = platform::config_context();
    config_context_.tls_material = std::make_shared<TlsMaterialCache>();
    auto loaded = load_config(config_path_, config_context_);
    if (!loaded.config) {
        for (const auto& issue : loaded.issues) std::cerr << format_issue(issue) << '\n';
        adapters_.system_log->emit(
            config_invalid_event(config_path_, loaded.issues, clock_.wall_now(), "certheal did not start."));
        return std::nullopt;
    }
    // The same list `certheal check-config` applies (service/start_checks.hpp).
    const auto refusals = start_problems(config_path_, *loaded.config);
    for (const auto& problem : refusals) {
        Event refusal;
        refusal.id = EventId::config_invalid;
        refusal.time = clock_.wall_now();
        refusal.message = "certheal refused to start: " + problem.sentence;
        refusal.details = problem.details;
        adapters_.system_log->emit(refusal);
        std::cerr << refusal.message << '\n';
    }
    if (!refusals.empty()) return std::nullopt;
    return std::move(loaded.config);
}

void Daemon::wire(const Config& config) {
    ports_ = wire_ports(config, io_, clock_, adapters_, config_context_.tls_material);
    events_.add(ports_->journal);
    events_.add(*adapters_.system_log);
    if (host_.echo_events()) events_.add(echo_);
    // The system log, and the console when someone watches it (a console run may have no
    // syslog daemon at all).
    beside_journal_.add(*adapters_.system_log);
    if (host_.echo_events()) beside_journal_.add(echo_);
    ports_->journal.on_change([this](const JournalSink::Change& change) { on_journal_change(change); });

    folding_ = std::make_unique<FoldingSink>(events_, clock_);
    monitor_ = std::make_unique<Monitor>(ports_->monitor_ports(*folding_));
    monitor_->on_status_change([this](StatusChange change) {
        status_write_.changed(change);
        trims_.request();
    });
}

void Daemon::serve_status(const ListenAddress& where) {
    if (auto listening = status_server_.listen(where); !listening.ok()) {
        Event event;
        event.id = EventId::status_endpoint_failed;
        event.time = clock_.wall_now();
        event.message = "certheal could not serve its status endpoint (see error); it keeps monitoring and "
                        "repairing. Free the address or change service.status_listen.";
        event.details = {{"listen", where.text()}, {"error", listening.error().message}};
        events_.emit(event);
    }
}

int Daemon::finish() {
    controls_.reset();
    ports_->workers.join();
    status_write_.cancel();
    cancel_requests();
    trims_.cancel();
    publish_status(/*quiet=*/true);  // the last word: what the sites and the policy were when certheal stopped
    instance_.held.reset();          // removes the pid file it wrote
    journal_retry_.reset();
    report_unwritten_journal();
    return cli::ok;
}

void Daemon::on_journal_change(const JournalSink::Change& change) {
    auto& journal = ports_->journal;
    Event event;
    event.time = clock_.wall_now();
    event.details = {{"what", "journal"}, {"path", journal.path().string()}, {"queued", change.queued}};
    if (!change.writable) {
        event.id = EventId::storage_failed;
        event.message = "certheal could not write its journal; it keeps the newest events in memory and writes "
                        "them when it can. Free space on the disk or fix the state folder's permissions.";
        event.details["kept_at_most"] = JournalLimits{}.queued_events;
        event.details["error"] = change.failure ? change.failure->message : std::string();
        // Posted: the listener runs inside an emit, and the timer belongs to the io thread.
        boost::asio::post(io_, [this] {
            if (!journal_retry_) journal_retry_ = clock_.after(kJournalRetry, [this] { retry_journal(); });
        });
    } else {
        event.id = EventId::storage_recovered;
        event.message = std::string("certheal writes its journal again and wrote the events it had kept in memory") +
                        (change.dropped > 0 ? "; older ones were dropped (dropped), this log has them." : ".");
        event.details["dropped"] = change.dropped;
        boost::asio::post(io_, [this] { journal_retry_.reset(); });
    }
    // Past the journal: it is the sink that is in trouble (the event that found out is queued
    // there, through the fan-out).
    beside_journal_.emit(event);
}

void Daemon::retry_journal() {
    if (ports_->journal.flush_pending()) return;
    journal_retry_ = clock_.after(kJournalRetry, [this] { retry_journal(); });
}

// At exit the last chance is gone: say which journal records are missing and why.
void Daemon::report_unwritten_journal() {
    auto& journal = ports_->journal;
    if (journal.flush_pending()) return;
    Event event;
    event.id = EventId::storage_failed;
    event.time = clock_.wall_now();
    const auto error = journal.last_error();
    event.message = "certheal stopped with " + std::to_string(journal.pending()) +
                    " event(s) it could not write to its journal " + journal.path().string() + ": " +
                    as_clause(error ? error->message : std::string("unknown error")) +
                    ". Those events are only in the system log; check the folder's permissions and free space.";
    event.details = {{"what", "journal"}, {"path", journal.path().string()}, {"queued", journal.pending()}};
    adapters_.system_log->emit(event);
    std::cerr << event.message << '\n';
}

void Daemon::publish_status(bool quiet) {
    const auto status = monitor_->status();
    status_file_.write(state_dir_ / "status.json", status_document_text(status, pid_), clock_.wall_now(), quiet);
    if (const auto& dir = monitor_->config().service.textfile_dir) {
        textfile_.write(*dir / "certheal.prom", render_metrics(status), clock_.wall_now(), quiet);
    }
}

void Daemon::on_control(platform::ControlRequest request, const std::string& reason) {
    if (request == platform::ControlRequest::stop) {
        stop(reason);
        return;
    }
    if (stop_requested_) return;
    if (request == platform::ControlRequest::resume) {
        resume_reason_ = reason;
        resumes_.request();
        return;
    }
    if (request == platform::ControlRequest::pause_changed) {
        pause_changes_.request();
        return;
    }
    reloads_.request();
}

void Daemon::stop(const std::string& reason) {
    if (stop_requested_) return;
    stop_requested_ = true;
    host_.stopping();
    cancel_requests();
    folding_->flush();
    monitor_->stop("stop requested by " + reason, [this] {
        status_write_.cancel();
        trims_.cancel();
        status_server_.close();
        io_.stop();
    });
}

void Daemon::resume(std::size_t requests) {
    monitor_->resume(requests > 1 ? resume_reason_ + ", " + std::to_string(requests) +
                                        " requests at once answered as one"
                                  : resume_reason_);
}

void Daemon::reload(std::size_t requests) {
    try {
        apply_reload(requests);
    } catch (const std::exception& error) {
        // A reload never ends the service: the last good configuration stays in force.
        Event event;
        event.id = EventId::config_invalid;
        event.time = clock_.wall_now();
        event.message = "certheal could not reload its configuration (see error) and keeps running with the last "
                        "good one.";
        event.details = {{"config", config_path_.string()}, {"error", error.what()}};
        events_.emit(event);
    }
}

void Daemon::apply_reload(std::size_t requests) {
    // Checked on every reload, not only at start: a config made writable since would let anyone
    // choose what runs as SYSTEM/root. Whether that is allowed is the running config's to say,
    // never the new file's.
    if (auto refusal = write_protection_refusal(
            config_path_, monitor_->config().service.allow_insecure_config_acl,
            "certheal refused to reload its configuration and keeps running with the last good one", clock_.wall_now())) {
        events_.emit(*refusal);
        return;
    }
    auto reloaded = load_config(config_path_, config_context_);
    if (!reloaded.config) {
        events_.emit(config_invalid_event(config_path_, reloaded.issues, clock_.wall_now(),
                                          "certheal keeps running with the last good configuration."));
        return;
    }
    if (auto refusal = folder_refusal(*reloaded.config,
                                      "certheal refused to reload its configuration and keeps running with the last "
                                      "good one",
                                      clock_.wall_now())) {
        events_.emit(*refusal);
        return;
    }
    ports_->prober.set_max_in_flight(reloaded.config->service.max_concurrent_probes);
    monitor_->reload(std::move(*reloaded.config), requests);
}

void Daemon::cancel_requests() {
    resumes_.cancel();
    reloads_.cancel();
    pause_changes_.cancel();
}

}  // namespace certheal
