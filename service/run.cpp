#include "service/run.hpp"

#include <cstdlib>
#include <iostream>

#include <boost/asio/post.hpp>

#include "config/config.hpp"
#include "core/runtime/asio_runtime.hpp"
#include "core/base/request_coalescer.hpp"
#include "core/record/event_folding.hpp"
#include "core/record/file_state_store.hpp"
#include "core/probe/https_prober.hpp"
#include "core/record/journal.hpp"
#include "core/base/time_format.hpp"
#include "core/policy/monitor.hpp"
#include "core/record/status_report.hpp"
#include "core/record/status_server.hpp"
#include "core/base/text.hpp"
#include "service/cli.hpp"
#include "service/console_echo.hpp"
#include "service/start_checks.hpp"

namespace certheal {
namespace {

// How often a journal that cannot be written is tried again.
constexpr Duration kJournalRetry = std::chrono::seconds(30);
// status.json, certheal.prom and the pid file are for others to read; they hold no secret.
constexpr auto kReadableByAll = std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                std::filesystem::perms::group_read | std::filesystem::perms::others_read;
// A burst of reload or resume requests (SIGHUP, SIGUSR1, SCM controls) is answered once, when
// the requests have stopped for kControlQuiet, at the latest kControlLongest after the first.
constexpr Duration kControlQuiet = std::chrono::milliseconds(300);
constexpr Duration kControlLongest = std::chrono::seconds(2);
// How often free heap pages go back to the system (see platform::release_free_memory).
constexpr auto kTrimInterval = std::chrono::minutes(1);
constexpr Duration kSettleBeforeTrim = std::chrono::seconds(3);

// One of the files certheal writes for others to read (status.json, the metrics textfile):
// a failure to write it is said once, and its recovery once, never on every write.
class PublishedFile {
public:
    PublishedFile(std::string what, OwnFiles& files, EventSink& events)
        : what_(std::move(what)), files_(files), events_(events) {}

    // `quiet`: the last write at exit, after service_stopped, which must stay the last event.
    void write(const std::filesystem::path& file, const std::string& contents, TimePoint now, bool quiet = false) {
        const auto written = files_.write_atomically(file, contents, kReadableByAll);
        if (quiet) return;
        if (!written && !failing_) {
            failing_ = true;
            Event event;
            event.id = EventId::storage_failed;
            event.time = now;
            event.message = "certheal could not write its " + what_ +
                            " (see path and error). Monitoring and repairs go on; free space on the disk or fix the "
                            "folder's permissions.";
            event.details = {{"what", what_}, {"path", file.string()}, {"error", written.error().message}};
            events_.emit(event);
        } else if (written && failing_) {
            failing_ = false;
            Event event;
            event.id = EventId::storage_recovered;
            event.time = now;
            event.message = "certheal writes its " + what_ + " again.";
            event.details = {{"what", what_}, {"path", file.string()}};
            events_.emit(event);
        }
    }

private:
    std::string what_;
    OwnFiles& files_;
    EventSink& events_;
    bool failing_ = false;
};


Event config_invalid_event(const std::filesystem::path& path, const std::vector<ConfigIssue>& issues,
                           TimePoint now, const std::string& consequence) {
    nlohmann::json errors = nlohmann::json::array();
    for (const auto& issue : issues) {
        if (issue.level != ConfigIssue::Level::error) continue;
        errors.push_back(format_issue(issue));
    }
    Event event;
    event.id = EventId::config_invalid;
    event.time = now;
    // The errors are a field (and were printed one per line): the sentence stays short.
    event.message = "The configuration has " + std::to_string(errors.size()) +
                    (errors.size() == 1 ? " error; " : " errors; ") + consequence + " Fix each one (errors).";
    event.details = {{"config", path.string()}, {"errors", errors}};
    return event;
}

// The config decides what runs with full privileges: a config others can change is refused,
// unless `allowed` (service.allow_insecure_config_acl of the config in force) says otherwise.
std::optional<Event> write_protection_refusal(const std::filesystem::path& path, bool allowed, const std::string& what) {
    const auto problem = platform::config_write_protection_problem(path);
    if (!problem || allowed) return std::nullopt;
    Event event;
    event.id = EventId::config_invalid;
    event.time = std::chrono::system_clock::now();
    event.message = what + ": " + *problem +
                    ". The configuration decides which programs run with full privileges, so only administrators "
                    "may be able to change it. Restrict its permissions, or set service.allow_insecure_config_acl to "
                    "true if you accept the risk.";
    event.details = {{"config", path.string()}, {"problem", *problem}};
    return event;
}

// certheal writes its journal, state, pid file and metrics with full privileges: into a folder
// that another account could change (put links or FIFOs in, swap), it does not write at all.
std::optional<Event> folder_refusal(const Config& config, const std::string& what) {
    std::vector<std::pair<std::string, std::filesystem::path>> folders = {
        {"the state folder", config.service.state_dir}};
    if (config.service.textfile_dir) folders.emplace_back("the textfile folder", *config.service.textfile_dir);
    for (const auto& [name, folder] : folders) {
        const auto problem = platform::folder_protection_problem(folder, name);
        if (!problem) continue;
        Event event;
        event.id = EventId::config_invalid;
        event.time = std::chrono::system_clock::now();
        event.message = what + ": " + *problem +
                        ". certheal writes its journal, state and metrics there with full privileges, so only "
                        "administrators may be able to change that folder. Fix its owner and permissions, or choose "
                        "another " + std::string(name == "the state folder" ? "service.state_dir" : "service.textfile_dir") + ".";
        event.details = {{"path", folder.string()}, {"problem", *problem}};
        return event;
    }
    return std::nullopt;
}

// The state folder before anything is written there: created, protected from other accounts,
// locked for this process (one certheal per state folder; `certheal status` and `resume` find
// the running one by this lock, its pid is in certheal.pid), and cleared of what a killed
// rewrite left. The exit code when certheal must not start; the reason is said on stderr and
// in the system log (the journal is another certheal's, or cannot be trusted).
std::optional<int> claim_state_folder(const Config& config, EventSink& system_log, platform::StateFolderLock& lock) {
    const std::filesystem::path state_dir = config.service.state_dir;
    const auto refuse = [&](Event event, int exit_code) {
        event.time = std::chrono::system_clock::now();
        system_log.emit(event);
        std::cerr << event.message << '\n';
        return exit_code;
    };
    std::error_code dir_error;
    std::filesystem::create_directories(state_dir, dir_error);
    if (dir_error) {
        Event event;
        event.id = EventId::storage_failed;
        event.message = "certheal did not start: it could not create its state folder " + state_dir.string() + ": " +
                        dir_error.message() + ". Fix the path or its parent's permissions (service.state_dir).";
        event.details = {{"what", "state folder"}, {"path", state_dir.string()}, {"error", dir_error.message()}};
        return refuse(std::move(event), cli::runtime_failure);
    }
    if (auto refusal = folder_refusal(config, "certheal refused to start")) return refuse(std::move(*refusal), cli::usage);
    auto taken = platform::lock_state_folder(state_dir);
    if (!taken || taken.value().running_pid) {
        Event event;
        event.id = EventId::storage_failed;
        event.message =
            taken ? "certheal did not start: certheal is already running (" +
                        (*taken.value().running_pid > 0 ? "pid " + std::to_string(*taken.value().running_pid)
                                                         : std::string("its pid could not be read")) +
                        ") with the state folder " + state_dir.string() +
                        "; one certheal runs per state folder. Stop that one first, or give this one another "
                        "service.state_dir."
                  : "certheal did not start: " + as_clause(taken.error().message) +
                        ". It takes a lock on its state folder so that only one certheal uses it.";
        event.details = {{"what", "state folder lock"}, {"path", (state_dir / "certheal.pid").string()}};
        if (taken) event.details["running_pid"] = *taken.value().running_pid;
        return refuse(std::move(event), cli::runtime_failure);
    }
    lock = std::move(taken.value());
    // No other certheal writes here now: what is left of a rewrite is a killed one's.
    platform::remove_leftover_temporaries(state_dir);
    if (config.service.textfile_dir) platform::remove_leftover_temporaries(*config.service.textfile_dir);
    return std::nullopt;
}

}  // namespace

int run_monitor(const std::filesystem::path& config_path, MonitorHost& host) {
    auto adapters = platform::make_adapters();
    host.starting();

    // One cache of decoded certificates and keys for validation (start and every reload) and
    // the prober: each file is decoded once per version.
    auto config_context = platform::config_context();
    config_context.tls_material = std::make_shared<TlsMaterialCache>();
    auto loaded = load_config(config_path, config_context);
    if (!loaded.config) {
        for (const auto& issue : loaded.issues) std::cerr << format_issue(issue) << '\n';
        adapters.system_log->emit(config_invalid_event(config_path, loaded.issues, std::chrono::system_clock::now(),
                                                       "certheal did not start."));
        return cli::usage;
    }
    Config config = std::move(*loaded.config);

    // The same list `certheal check-config` applies (service/start_checks.hpp).
    const auto refusals = start_problems(config_path, config);
    for (const auto& problem : refusals) {
        Event refusal;
        refusal.id = EventId::config_invalid;
        refusal.time = std::chrono::system_clock::now();
        refusal.message = "certheal refused to start: " + problem.sentence;
        refusal.details = problem.details;
        adapters.system_log->emit(refusal);
        std::cerr << refusal.message << '\n';
    }
    if (!refusals.empty()) return cli::usage;

    const std::filesystem::path state_dir = config.service.state_dir;
    platform::StateFolderLock instance;
    if (const auto refused = claim_state_folder(config, *adapters.system_log, instance)) return *refused;
    const auto pid = platform::current_process_id();
    const auto repair_lock = platform::make_repair_lock(state_dir);

    boost::asio::io_context io;
    AsioClock clock(io);
    ThreadWorkerPool workers(io, 2);
    ProberOptions prober_options;
    prober_options.max_in_flight = config.service.max_concurrent_probes;
    HttpsProber prober(io, prober_options, adapters.certificate_stores.get(), config_context.tls_material,
                       adapters.client_identities.get());
    FileStateStore state(config.service.state_dir, *adapters.own_files, platform::make_state_lock(state_dir));
    JournalSink journal(config.service.state_dir, *adapters.own_files);
    ConsoleEcho echo;
    FanOutSink events;
    events.add(journal);
    events.add(*adapters.system_log);
    if (host.echo_events()) events.add(echo);
    // Where the journal's own storage_failed/storage_recovered go: every sink but the journal
    // (the system log, and the console when someone watches it; a console run may have no
    // syslog daemon at all).
    FanOutSink beside_journal;
    beside_journal.add(*adapters.system_log);
    if (host.echo_events()) beside_journal.add(echo);

    // A journal that cannot be written (a full disk) is said at once in the system log, and
    // retried on a timer until what waits in memory is written; no timer runs while all is well.
    std::unique_ptr<TimerHandle> journal_retry;
    std::function<void()> retry_journal;
    retry_journal = [&] {
        if (journal.flush_pending()) return;
        journal_retry = clock.after(kJournalRetry, [&] { retry_journal(); });
    };
    journal.on_change([&](const JournalSink::Change& change) {
        Event event;
        event.time = std::chrono::system_clock::now();
        event.details = {{"what", "journal"}, {"path", journal.path().string()}, {"queued", change.queued}};
        if (!change.writable) {
            event.id = EventId::storage_failed;
            event.message = "certheal could not write its journal; it keeps the newest events in memory and writes "
                            "them when it can. Free space on the disk or fix the state folder's permissions.";
            event.details["kept_at_most"] = JournalLimits{}.queued_events;
            event.details["error"] = change.failure ? change.failure->message : std::string();
            // Posted: the listener runs inside an emit, and the timer belongs to the io thread.
            boost::asio::post(io, [&] {
                if (!journal_retry) journal_retry = clock.after(kJournalRetry, [&] { retry_journal(); });
            });
        } else {
            event.id = EventId::storage_recovered;
            event.message = std::string("certheal writes its journal again and wrote the events it had kept in memory") +
                            (change.dropped > 0 ? "; older ones were dropped (dropped), this log has them." : ".");
            event.details["dropped"] = change.dropped;
            boost::asio::post(io, [&] { journal_retry.reset(); });
        }
        // Past the journal: it is the sink that is in trouble (the event that found out is
        // queued there, through the fan-out).
        beside_journal.emit(event);
    });

    // What probing causes, folded when it repeats (core/record/event_folding.hpp).
    FoldingSink folding(events, clock);
    Monitor monitor(MonitorPorts{clock, prober, *adapters.services, *adapters.processes, workers, state, folding,
                                 *adapters.certificate_stores, *adapters.files, repair_lock.get(),
                                 adapters.host_trust.get(), adapters.schannel.get(), adapters.binding_trust.get(),
                                 adapters.client_identities.get()});

    // The live status for `certheal status` and the textfile collector: written soon after a
    // significant change, seldom for counters alone (StatusWriteSchedule); nothing runs while idle.
    PublishedFile status_file("status file", *adapters.own_files, events);
    PublishedFile textfile("metrics textfile", *adapters.own_files, events);
    auto write_status = [&](bool quiet) {
        const auto status = monitor.status();
        status_file.write(state_dir / "status.json", status_document_text(status, pid), clock.now(), quiet);
        if (const auto& dir = monitor.config().service.textfile_dir) {
            textfile.write(*dir / "certheal.prom", render_metrics(status), clock.now(), quiet);
        }
    };
    // Free heap goes back once a round has settled (no status change for a few seconds), and at
    // least once a minute when sites are probed so often that it never settles.
    RequestCoalescer trims(clock, kSettleBeforeTrim, kTrimInterval,
                           [](std::size_t) { platform::release_free_memory(); });
    StatusWriteSchedule status_write(clock, [&] { write_status(/*quiet=*/false); });
    monitor.on_status_change([&](StatusChange change) {
        status_write.changed(change);
        trims.request();
    });

    StatusServer status_server(io, [&monitor] { return monitor.status(); });

    bool stop_requested = false;
    std::string resume_reason;
    RequestCoalescer resumes(clock, kControlQuiet, kControlLongest, [&](std::size_t requests) {
        monitor.resume(requests > 1 ? resume_reason + ", " + std::to_string(requests) +
                                          " requests at once answered as one"
                                    : resume_reason);
    });
    // `certheal pause` / `unpause` saved a change: read it again (a burst is one reading).
    RequestCoalescer pause_changes(clock, kControlQuiet, kControlLongest,
                                   [&](std::size_t) { monitor.refresh_pauses(); });
    std::function<void(std::size_t)> reload;
    RequestCoalescer reloads(clock, kControlQuiet, kControlLongest, [&](std::size_t requests) { reload(requests); });
    auto controls = host.attach(io, [&](platform::ControlRequest request, const std::string& reason) {
        if (request == platform::ControlRequest::stop) {
            if (stop_requested) return;
            stop_requested = true;
            host.stopping();
            resumes.cancel();
            reloads.cancel();
            pause_changes.cancel();
            folding.flush();
            monitor.stop("stop requested by " + reason, [&io, &status_server, &status_write, &trims] {
                status_write.cancel();
                trims.cancel();
                status_server.close();
                io.stop();
            });
            return;
        }
        if (stop_requested) return;
        if (request == platform::ControlRequest::resume) {
            resume_reason = reason;
            resumes.request();
            return;
        }
        if (request == platform::ControlRequest::pause_changed) {
            pause_changes.request();
            return;
        }
        reloads.request();
    });
    reload = [&](std::size_t requests) {
        try {
            // Checked on every reload, not only at start: a config made writable since would let
            // anyone choose what runs as SYSTEM/root. Whether that is allowed is the running
            // config's to say, never the new file's.
            if (auto refusal = write_protection_refusal(
                    config_path, monitor.config().service.allow_insecure_config_acl,
                    "certheal refused to reload its configuration and keeps running with the last good one")) {
                events.emit(*refusal);
                return;
            }
            auto reloaded = load_config(config_path, config_context);
            if (!reloaded.config) {
                events.emit(config_invalid_event(config_path, reloaded.issues, clock.now(),
                                                 "certheal keeps running with the last good configuration."));
                return;
            }
            if (auto refusal = folder_refusal(*reloaded.config, "certheal refused to reload its configuration and "
                                                                 "keeps running with the last good one")) {
                events.emit(*refusal);
                return;
            }
            prober.set_max_in_flight(reloaded.config->service.max_concurrent_probes);
            monitor.reload(std::move(*reloaded.config), requests);
        } catch (const std::exception& error) {
            // A reload never ends the service: the last good configuration stays in force.
            Event event;
            event.id = EventId::config_invalid;
            event.time = clock.now();
            event.message = "certheal could not reload its configuration (see error) and keeps running with the last "
                            "good one.";
            event.details = {{"config", config_path.string()}, {"error", error.what()}};
            events.emit(event);
        }
    };

    const std::optional<ListenAddress> status_listen = config.service.status_listen;
    monitor.start(std::move(config));
    if (status_listen) {
        if (auto listening = status_server.listen(*status_listen); !listening.ok()) {
            Event event;
            event.id = EventId::status_endpoint_failed;
            event.time = clock.now();
            event.message = "certheal could not serve its status endpoint (see error); it keeps monitoring and "
                            "repairing. Free the address or change service.status_listen.";
            event.details = {{"listen", status_listen->text()}, {"error", listening.error().message}};
            events.emit(event);
        }
    }
    host.running();
    io.run();
    controls.reset();
    workers.join();
    status_write.cancel();
    resumes.cancel();
    reloads.cancel();
    pause_changes.cancel();
    trims.cancel();
    write_status(/*quiet=*/true);  // the last word: what the sites and the policy were when certheal stopped
    instance.held.reset();  // removes the pid file it wrote

    journal_retry.reset();
    if (!journal.flush_pending()) {
        // The last chance is gone: say which journal records are missing and why.
        Event event;
        event.id = EventId::storage_failed;
        event.time = std::chrono::system_clock::now();
        const auto error = journal.last_error();
        event.message = "certheal stopped with " + std::to_string(journal.pending()) +
                        " event(s) it could not write to its journal " + journal.path().string() + ": " +
                        as_clause(error ? error->message : std::string("unknown error")) +
                        ". Those events are only in the system log; check the folder's permissions and free space.";
        event.details = {{"what", "journal"}, {"path", journal.path().string()}, {"queued", journal.pending()}};
        adapters.system_log->emit(event);
        std::cerr << event.message << '\n';
    }
    return cli::ok;
}

}  // namespace certheal
