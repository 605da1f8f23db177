#pragma once
// Test doubles for every port in core/ports.hpp, core/clock.hpp and core/events.hpp.
// They are deliberately general: unit tests of the policy, the workflow and the monitor
// all build on them. None of them sleeps; time only moves when a test advances FakeClock.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/model/certificate_stores.hpp"
#include "core/base/clock.hpp"
#include "core/model/events.hpp"
#include "core/model/host_settings.hpp"
#include "core/model/host_trust.hpp"
#include "core/model/ports.hpp"

namespace certheal::test {

// --- time ------------------------------------------------------------------------------
// A clock that only moves when told to. advance() moves wall and monotonic time together and
// fires due timers in time order (ties in the order they were scheduled), including timers
// that callbacks schedule during the advance, and sets the time to each timer's due time while
// its callback runs. Timers run on monotonic time, as the real ones do: set_now() steps the
// wall clock alone, and neither fires nor delays a timer.
class FakeClock final : public Clock {
public:
    static TimePoint default_start();  // 2026-11-24T22:00:00Z, so journal times read sensibly

    explicit FakeClock(TimePoint start = default_start());

    TimePoint wall_now() const override { return now_; }
    MonotonicTime monotonic_now() const override { return monotonic_; }
    [[nodiscard]] std::unique_ptr<TimerHandle> after(Duration delay, std::function<void()> callback) override;

    // Moves time without firing anything (a wall-clock jump); timers keep their due times.
    void set_now(TimePoint time) { now_ = time; }
    void advance(Duration by);
    void advance_to(TimePoint time);
    std::size_t pending_timers() const;  // scheduled, not yet fired, not cancelled
    std::optional<TimePoint> next_due() const;  // in wall time, as if the wall clock does not step

private:
    struct Timer {
        MonotonicTime due;
        std::uint64_t sequence = 0;
        std::function<void()> callback;
        bool cancelled = false;
    };
    class Handle;

    TimePoint now_;
    MonotonicTime monotonic_{std::chrono::hours(1000)};  // any start; only differences count
    std::uint64_t next_sequence_ = 0;
    std::vector<std::shared_ptr<Timer>> timers_;
};

// --- events ----------------------------------------------------------------------------
class RecordingSink final : public EventSink {
public:
    void emit(const Event& event) override { events_.push_back(event); }

    const std::vector<Event>& events() const { return events_; }
    std::vector<std::string> names() const;  // event names in emission order
    std::size_t count(EventId id) const;
    std::optional<Event> last(EventId id) const;
    std::vector<Event> all(EventId id) const;
    void clear() { events_.clear(); }

private:
    std::vector<Event> events_;
};

// --- worker pools ----------------------------------------------------------------------
// Runs the work and then its completion right away, inside submit().
class InlineWorkerPool final : public WorkerPool {
public:
    void submit(std::function<void()> work, std::function<void()> done) override;
    std::size_t submitted() const { return submitted_; }

private:
    std::size_t submitted_ = 0;
};

// Holds submitted jobs until the test runs them, so a test can act (cancel, destroy the
// owner...) while a step is "in progress".
class QueuedWorkerPool final : public WorkerPool {
public:
    void submit(std::function<void()> work, std::function<void()> done) override;
    std::size_t pending() const { return jobs_.size(); }
    std::size_t submitted() const { return submitted_; }
    // Runs the oldest job's work and then its completion. Returns false when none is queued.
    bool run_next();
    // Runs jobs, including ones their completions submit, until none is left. Returns how many ran.
    std::size_t run_all();

private:
    struct Job {
        std::function<void()> work;
        std::function<void()> done;
    };
    std::deque<Job> jobs_;
    std::size_t submitted_ = 0;
};

// --- services --------------------------------------------------------------------------
struct ServiceCall {
    enum class Kind { stop, start };
    Kind kind = Kind::stop;
    std::string service;
    bool with_dependents = false;
    Duration timeout{};
};

// In-memory services with states and dependencies, behaving like the ServiceManager
// contract (and the real SCM): stopping a service with running dependents fails with 1051
// unless with_dependents; starting one starts its dependencies first.
class FakeServiceManager final : public ServiceManager {
public:
    void add_service(const std::string& name, bool running, std::vector<std::string> depends_on = {});
    bool is_running(const std::string& name) const;
    void set_running(const std::string& name, bool running);

    // The next call of `kind` on `service` fails with `failure` (one-shot, queued per service).
    void fail_next(ServiceCall::Kind kind, const std::string& service, Failure failure);
    // Calls of `kind` on `service` block until their stop_token is cancelled, then fail with
    // operation_canceled. Only use with a token that is (or will be) cancelled.
    void block_until_cancelled(ServiceCall::Kind kind, const std::string& service);

    std::vector<ServiceCall> calls() const;
    // Port calls as short lines: "stop IISADMIN /y", "stop W3SVC", "start W3SVC".
    std::vector<std::string> call_log() const;
    // State changes in the order they happened: "stopped FTPSVC", "started IISADMIN".
    std::vector<std::string> transitions() const;

    Result<std::vector<std::string>> stop_service(const std::string& service, bool with_dependents,
                                                  Duration timeout, std::stop_token cancel) override;
    Result<Done> start_service(const std::string& service, Duration timeout, std::stop_token cancel) override;

private:
    struct Service {
        bool running = false;
        std::vector<std::string> depends_on;
    };
    using Key = std::pair<ServiceCall::Kind, std::string>;

    std::optional<Failure> scripted_failure(const Key& key, std::unique_lock<std::mutex>& lock,
                                            const std::stop_token& cancel);
    void collect_running_dependents(const std::string& service, std::set<std::string>& visited,
                                    std::vector<std::string>& order) const;
    bool start_locked(const std::string& service, std::set<std::string>& visiting, Failure& failure);

    mutable std::mutex mutex_;
    std::condition_variable_any blocked_;
    std::map<std::string, Service> services_;
    std::vector<std::string> registration_order_;
    std::map<Key, std::deque<Failure>> failures_;
    std::set<Key> blocking_;
    std::vector<ServiceCall> calls_;
    std::vector<std::string> transitions_;
};

// --- processes -------------------------------------------------------------------------
struct ProcessCall {
    std::filesystem::path program;
    std::vector<std::string> args;
    Duration timeout{};
};

ProcessOutcome exited(int exit_code, std::string stdout_tail = {}, std::string stderr_tail = {});
ProcessOutcome timed_out_outcome(std::string stdout_tail = {}, std::string stderr_tail = {});

// Scripted outcomes per program (a queue; when it runs dry, the default: exit code 0).
class FakeProcessRunner final : public ProcessRunner {
public:
    void script(const std::filesystem::path& program, Result<ProcessOutcome> outcome);
    void set_default(Result<ProcessOutcome> outcome);
    // Runs of `program` block until cancelled, then report cancelled (like the real runner).
    void block_until_cancelled(const std::filesystem::path& program);

    std::vector<ProcessCall> calls() const;

    Result<ProcessOutcome> run(const std::filesystem::path& program, const std::vector<std::string>& args,
                               Duration timeout, std::stop_token cancel) override;

private:
    mutable std::mutex mutex_;
    std::condition_variable_any blocked_;
    std::map<std::filesystem::path, std::deque<Result<ProcessOutcome>>> scripts_;
    std::optional<Result<ProcessOutcome>> default_;
    std::set<std::filesystem::path> blocking_;
    std::vector<ProcessCall> calls_;
};

// --- probing ---------------------------------------------------------------------------
ProbeResult probe_result(const std::string& site, ProbeClass probe_class, std::optional<int> status = std::nullopt);

// Scripted results per site name: a queue, else a function, else healthy (status 200).
// Results are delivered inside probe() unless hold_results(true), in which case they wait
// for release_all(), like a probe still on the wire.
class FakeProber final : public SiteProber {
public:
    void script(const std::string& site, ProbeResult result);
    void script(const std::string& site, std::vector<ProbeClass> classes);
    void set_function(std::function<ProbeResult(const SiteConfig&)> produce);
    void hold_results(bool hold) { hold_ = hold; }
    std::size_t held() const { return held_.size(); }
    void release_all();

    const std::vector<std::string>& calls() const { return calls_; }  // site names in order

    void probe(const SiteConfig& site, std::function<void(ProbeResult)> done) override;

private:
    std::map<std::string, std::deque<ProbeResult>> scripts_;
    std::function<ProbeResult(const SiteConfig&)> produce_;
    bool hold_ = false;
    std::vector<std::pair<ProbeResult, std::function<void(ProbeResult)>>> held_;
    std::vector<std::string> calls_;
};

// --- certificate stores ----------------------------------------------------------------
// In-memory LocalMachine stores: store name -> certificates in insertion order. Calls are
// logged as "list Root", "add CA", "remove Root".
class FakeCertificateStores final : public CertificateStores {
public:
    explicit FakeCertificateStores(bool available = true) : available_(available) {}

    void set_available(bool available) { available_ = available; }
    void put(const std::string& store, DerCertificate certificate);
    void clear(const std::string& store);
    std::vector<DerCertificate> contents(const std::string& store) const;
    // The next call of `operation` ("list", "add", "remove") on `store` fails with `failure`.
    void fail_next(const std::string& operation, const std::string& store, Failure failure);
    std::vector<std::string> calls() const;

    bool available() const noexcept override { return available_; }
    Result<std::vector<DerCertificate>> list(const std::string& store) override;
    Result<Added> add(const std::string& store, const DerCertificate& certificate) override;
    Result<Removed> remove(const std::string& store, const DerCertificate& certificate) override;

private:
    std::optional<Failure> scripted(const std::string& operation, const std::string& store);

    bool available_;
    mutable std::mutex mutex_;
    std::map<std::string, std::vector<DerCertificate>> stores_;
    std::map<std::pair<std::string, std::string>, std::deque<Failure>> failures_;
    std::vector<std::string> calls_;
};

// --- Schannel and http.sys (the host trust diagnosis) ------------------------------------
// What the registry, http.sys and crypt32 would answer, as a test sets it: build_chain answers
// through `chains` (by default: the leaf alone, trusted) and logs every request.
class FakeHostTrustInspector final : public HostTrustInspector {
public:
    SchannelRegistry registry;
    HttpSysBindings found;
    std::map<std::string, std::vector<std::string>> addresses;
    std::function<BuiltChain(const ChainRequest&)> chains;
    std::vector<ChainRequest> requests;
    bool is_available = true;

    bool available() const noexcept override { return is_available; }
    Result<SchannelRegistry> schannel() override { return registry; }
    Result<HttpSysBindings> bindings() override { return found; }
    Result<std::vector<std::string>> addresses_of(const std::string& host) override { return addresses[host]; }
    Result<BuiltChain> build_chain(const ChainRequest& request) override;
};

// --- files others read -----------------------------------------------------------------
// Reads the file plainly and writes the new contents straight into it (tests care what is
// written, not how) and logs each replaced path; fail_next makes the next replace fail and
// leave the file alone; set_link_count says how many names the next opened files have.
class RecordingFileReplacer final : public FileReplacer {
public:
    void fail_next(Failure failure);
    void set_link_count(std::uint64_t links);
    std::vector<std::filesystem::path> replaced() const;

    Result<std::unique_ptr<FileToReplace>> open(const std::filesystem::path& file, std::size_t limit) override;

private:
    friend class RecordedFile;
    Result<Done> write(const std::filesystem::path& file, const std::string& contents);

    mutable std::mutex mutex_;
    std::deque<Failure> failures_;
    std::vector<std::filesystem::path> replaced_;
    std::uint64_t link_count_ = 1;
};

// --- persisted state -------------------------------------------------------------------
class MemoryStateStore final : public StateStore {
public:
    MemoryStateStore() = default;
    explicit MemoryStateStore(std::string contents) : contents_(std::move(contents)) {}

    const std::optional<std::string>& contents() const { return contents_; }
    void set_contents(std::optional<std::string> contents) { contents_ = std::move(contents); }
    void fail_loads(std::optional<Failure> failure) { load_failure_ = std::move(failure); }
    void fail_saves(std::optional<Failure> failure) { save_failure_ = std::move(failure); }
    std::size_t saves() const { return saves_; }

    Result<std::optional<std::string>> load() override;
    Result<Done> save(const std::string& contents) override;

private:
    std::optional<std::string> contents_;
    std::optional<Failure> load_failure_;
    std::optional<Failure> save_failure_;
    std::size_t saves_ = 0;
};

// --- Schannel's registry values and the store Schannel trusts ----------------------------
// In-memory SCHANNEL values (name -> value as found); calls logged as "read ClientAuthTrustMode",
// "write ClientAuthTrustMode=2". fail_next_write makes the next write fail; ignore_writes makes
// writes succeed without changing anything (a value something else keeps resetting).
class FakeSchannelSettings final : public SchannelSettings {
public:
    void put(const std::string& name, RegistryDword value) { values_[name] = std::move(value); }
    void put_number(const std::string& name, std::uint32_t number) { values_[name] = {true, number, "REG_DWORD"}; }
    std::optional<std::uint32_t> number(const std::string& name) const;
    void fail_next_write(Failure failure) { write_failure_ = std::move(failure); }
    void ignore_writes(bool ignore) { ignore_writes_ = ignore; }
    const std::vector<std::string>& calls() const { return calls_; }

    bool available() const noexcept override { return true; }
    Result<RegistryDword> read(std::string_view name) override;
    Result<Done> write(std::string_view name, std::uint32_t value) override;

private:
    std::map<std::string, RegistryDword, std::less<>> values_;
    std::optional<Failure> write_failure_;
    bool ignore_writes_ = false;
    std::vector<std::string> calls_;
};

// What the host trust diagnosis would say of each site: one BindingTrust for every site unless
// set per site; fail(site) makes reading that site fail.
class FakeBindingTrustSource final : public BindingTrustSource {
public:
    explicit FakeBindingTrustSource(BindingTrust all = {}) : all_(std::move(all)) {}
    void set(BindingTrust all) { all_ = std::move(all); }
    void set_for(const std::string& site, BindingTrust trust) { per_site_[site] = std::move(trust); }
    void fail(const std::string& site, Failure failure) { failures_[site] = std::move(failure); }
    const std::vector<std::string>& asked() const { return asked_; }

    bool available() const noexcept override { return true; }
    Result<BindingTrust> binding_trust(const SiteConfig& site) override;

private:
    BindingTrust all_;
    std::map<std::string, BindingTrust> per_site_;
    std::map<std::string, Failure> failures_;
    std::vector<std::string> asked_;
};

}  // namespace certheal::test
