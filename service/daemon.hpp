#pragma once
// `certheal run`'s composition root: the config, the platform adapters (service/ports.hpp) and
// the monitor on one io_context, with what runs beside the monitor as named members: the
// journal's retry, the status files and endpoint, reload, resume and pause requests, and stop.

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "config/config.hpp"
#include "core/base/request_coalescer.hpp"
#include "core/policy/monitor.hpp"
#include "core/record/event_folding.hpp"
#include "core/record/journal.hpp"
#include "core/record/status_report.hpp"
#include "core/record/status_server.hpp"
#include "core/runtime/asio_runtime.hpp"
#include "service/console_echo.hpp"
#include "service/platform.hpp"
#include "service/ports.hpp"
#include "service/published_file.hpp"
#include "service/run.hpp"

namespace certheal {

class Daemon {
public:
    Daemon(std::filesystem::path config_path, MonitorHost& host);
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    // Starts, runs until a stop request, stops; the process exit code (cli::ExitCode values).
    int run();

private:
    // The config validated, the start checks passed, the state folder claimed, the monitor
    // running; or the exit code of a refusal (said on stderr and in the system log).
    std::optional<int> start();
    std::optional<Config> load_checked_config();
    void wire(const Config& config);
    void serve_status(const ListenAddress& where);
    int finish();

    // The journal: a failure is said at once past it, and retried on a timer until what waits
    // in memory is written; no timer runs while all is well.
    void on_journal_change(const JournalSink::Change& change);
    void retry_journal();
    void report_unwritten_journal();

    // status.json and the metrics textfile; `quiet` for the last write at exit.
    void publish_status(bool quiet);

    // Requests from the host (signals, the SCM), each burst of reload/resume/pause answered once.
    void on_control(platform::ControlRequest request, const std::string& reason);
    void stop(const std::string& reason);
    void resume(std::size_t requests);
    void reload(std::size_t requests);
    void apply_reload(std::size_t requests);
    void cancel_requests();

    std::filesystem::path config_path_;
    MonitorHost& host_;
    platform::Adapters adapters_;
    boost::asio::io_context io_;
    AsioClock clock_{io_};
    ConfigContext config_context_;
    platform::StateFolderLock instance_;
    std::filesystem::path state_dir_;
    long long pid_ = 0;

    std::unique_ptr<Ports> ports_;
    ConsoleEcho echo_;
    FanOutSink events_;
    // Where the journal's own storage_failed/storage_recovered go: every sink but the journal.
    FanOutSink beside_journal_;
    std::unique_ptr<TimerHandle> journal_retry_;
    std::unique_ptr<FoldingSink> folding_;  // what probing causes, folded when it repeats
    std::unique_ptr<Monitor> monitor_;

    PublishedFile status_file_;
    PublishedFile textfile_;
    RequestCoalescer trims_;
    StatusWriteSchedule status_write_;
    StatusServer status_server_;

    bool stop_requested_ = false;
    std::string resume_reason_;
    RequestCoalescer resumes_;
    RequestCoalescer pause_changes_;
    RequestCoalescer reloads_;
    std::shared_ptr<void> controls_;
};

}  // namespace certheal
