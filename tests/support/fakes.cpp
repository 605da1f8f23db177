#include "support/fakes.hpp"

#include "core/base/bounded_input.hpp"

#include <fstream>

#include <algorithm>
#include <stdexcept>

namespace certheal::test {

// --- FakeClock -------------------------------------------------------------------------

class FakeClock::Handle final : public TimerHandle {
public:
    explicit Handle(std::weak_ptr<Timer> timer) : timer_(std::move(timer)) {}
    ~Handle() override { cancel(); }
    void cancel() override {
        if (auto timer = timer_.lock()) timer->cancelled = true;
    }

private:
    std::weak_ptr<Timer> timer_;  // weak: a handle may outlive the clock
};

TimePoint FakeClock::default_start() {
    using namespace std::chrono;
    return sys_days{year{2026} / November / 24} + hours{22};
}

FakeClock::FakeClock(TimePoint start) : now_(start) {}

std::unique_ptr<TimerHandle> FakeClock::after(Duration delay, std::function<void()> callback) {
    auto timer = std::make_shared<Timer>();
    timer->due = monotonic_ + std::max(delay, Duration::zero());
    timer->sequence = next_sequence_++;
    timer->callback = std::move(callback);
    timers_.push_back(timer);
    return std::make_unique<Handle>(timer);
}

void FakeClock::advance_to(TimePoint target) { advance(std::chrono::duration_cast<Duration>(target - now_)); }

void FakeClock::advance(Duration by) {
    const MonotonicTime target = monotonic_ + std::max(by, Duration::zero());
    for (;;) {
        std::erase_if(timers_, [](const auto& timer) { return timer->cancelled; });
        auto earliest = std::min_element(timers_.begin(), timers_.end(), [](const auto& a, const auto& b) {
            return a->due != b->due ? a->due < b->due : a->sequence < b->sequence;
        });
        if (earliest == timers_.end() || (*earliest)->due > target) break;
        // Take the timer out before running it: its callback may schedule, cancel or
        // destroy handles (including its own).
        std::shared_ptr<Timer> due = *earliest;
        timers_.erase(earliest);
        if (due->due > monotonic_) {
            now_ += due->due - monotonic_;
            monotonic_ = due->due;
        }
        auto callback = std::move(due->callback);
        due->cancelled = true;  // fired: cancelling it later is a no-op
        if (callback) callback();
    }
    if (target > monotonic_) {
        now_ += target - monotonic_;
        monotonic_ = target;
    }
}

std::size_t FakeClock::pending_timers() const {
    return static_cast<std::size_t>(
        std::count_if(timers_.begin(), timers_.end(), [](const auto& timer) { return !timer->cancelled; }));
}

std::optional<TimePoint> FakeClock::next_due() const {
    std::optional<MonotonicTime> next;
    for (const auto& timer : timers_) {
        if (!timer->cancelled && (!next || timer->due < *next)) next = timer->due;
    }
    if (!next) return std::nullopt;
    return now_ + std::chrono::duration_cast<TimePoint::duration>(*next - monotonic_);
}

// --- RecordingSink ---------------------------------------------------------------------

std::vector<std::string> RecordingSink::names() const {
    std::vector<std::string> result;
    for (const auto& event : events_) result.emplace_back(definition_of(event.id).name);
    return result;
}

std::size_t RecordingSink::count(EventId id) const {
    return static_cast<std::size_t>(
        std::count_if(events_.begin(), events_.end(), [id](const Event& event) { return event.id == id; }));
}

std::optional<Event> RecordingSink::last(EventId id) const {
    for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
        if (it->id == id) return *it;
    }
    return std::nullopt;
}

std::vector<Event> RecordingSink::all(EventId id) const {
    std::vector<Event> result;
    for (const auto& event : events_) {
        if (event.id == id) result.push_back(event);
    }
    return result;
}

// --- worker pools ----------------------------------------------------------------------

void InlineWorkerPool::submit(std::function<void()> work, std::function<void()> done) {
    ++submitted_;
    if (work) work();
    if (done) done();
}

void QueuedWorkerPool::submit(std::function<void()> work, std::function<void()> done) {
    ++submitted_;
    jobs_.push_back(Job{std::move(work), std::move(done)});
}

bool QueuedWorkerPool::run_next() {
    if (jobs_.empty()) return false;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    if (job.work) job.work();
    if (job.done) job.done();
    return true;
}

std::size_t QueuedWorkerPool::run_all() {
    std::size_t ran = 0;
    while (run_next()) ++ran;
    return ran;
}

// --- FakeServiceManager ----------------------------------------------------------------

namespace {
// Win32 codes the real SCM returns, so tests see the same numbers the Event Log would.
constexpr int kDependentServicesRunning = 1051;
constexpr int kServiceDoesNotExist = 1060;

Failure cancelled_failure(const std::string& what) {
    return Failure{std::make_error_code(std::errc::operation_canceled),
                   what + " was cancelled because certheal is stopping."};
}

const char* kind_name(ServiceCall::Kind kind) { return kind == ServiceCall::Kind::stop ? "stop" : "start"; }
}  // namespace

void FakeServiceManager::add_service(const std::string& name, bool running, std::vector<std::string> depends_on) {
    std::lock_guard lock(mutex_);
    if (!services_.contains(name)) registration_order_.push_back(name);
    services_[name] = Service{running, std::move(depends_on)};
}

bool FakeServiceManager::is_running(const std::string& name) const {
    std::lock_guard lock(mutex_);
    const auto found = services_.find(name);
    return found != services_.end() && found->second.running;
}

void FakeServiceManager::set_running(const std::string& name, bool running) {
    std::lock_guard lock(mutex_);
    services_.at(name).running = running;
}

void FakeServiceManager::fail_next(ServiceCall::Kind kind, const std::string& service, Failure failure) {
    std::lock_guard lock(mutex_);
    failures_[{kind, service}].push_back(std::move(failure));
}

void FakeServiceManager::block_until_cancelled(ServiceCall::Kind kind, const std::string& service) {
    std::lock_guard lock(mutex_);
    blocking_.insert({kind, service});
}

std::vector<ServiceCall> FakeServiceManager::calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
}

std::vector<std::string> FakeServiceManager::call_log() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> lines;
    for (const auto& call : calls_) {
        lines.push_back(std::string(kind_name(call.kind)) + " " + call.service +
                        (call.with_dependents ? " /y" : ""));
    }
    return lines;
}

std::vector<std::string> FakeServiceManager::transitions() const {
    std::lock_guard lock(mutex_);
    return transitions_;
}

std::optional<Failure> FakeServiceManager::scripted_failure(const Key& key, std::unique_lock<std::mutex>& lock,
                                                            const std::stop_token& cancel) {
    if (blocking_.contains(key)) {
        blocked_.wait(lock, cancel, [] { return false; });
        return cancelled_failure(std::string("The ") + kind_name(key.first) + " of service " + key.second);
    }
    if (auto found = failures_.find(key); found != failures_.end() && !found->second.empty()) {
        Failure failure = std::move(found->second.front());
        found->second.pop_front();
        return failure;
    }
    return std::nullopt;
}

void FakeServiceManager::collect_running_dependents(const std::string& service, std::set<std::string>& visited,
                                                    std::vector<std::string>& order) const {
    // Depth-first over "who depends on me", so every dependent is stopped before what it needs.
    for (const auto& name : registration_order_) {
        const auto& candidate = services_.at(name);
        const bool depends = std::find(candidate.depends_on.begin(), candidate.depends_on.end(), service) !=
                             candidate.depends_on.end();
        if (!depends || !visited.insert(name).second) continue;
        collect_running_dependents(name, visited, order);
        if (candidate.running) order.push_back(name);
    }
}

Result<std::vector<std::string>> FakeServiceManager::stop_service(const std::string& service, bool with_dependents,
                                                                  Duration timeout, std::stop_token cancel) {
    std::unique_lock lock(mutex_);
    calls_.push_back(ServiceCall{ServiceCall::Kind::stop, service, with_dependents, timeout});
    if (auto failure = scripted_failure({ServiceCall::Kind::stop, service}, lock, cancel)) return *failure;
    const auto found = services_.find(service);
    if (found == services_.end()) {
        return Failure{std::error_code(kServiceDoesNotExist, std::system_category()),
                       "The service " + service + " does not exist."};
    }
    std::set<std::string> visited{service};
    std::vector<std::string> dependents;
    collect_running_dependents(service, visited, dependents);
    if (!dependents.empty() && !with_dependents) {
        return Failure{std::error_code(kDependentServicesRunning, std::system_category()),
                       "The service " + service + " cannot be stopped because " + dependents.front() +
                           " depends on it and is running."};
    }
    for (const auto& dependent : dependents) {
        services_.at(dependent).running = false;
        transitions_.push_back("stopped " + dependent);
    }
    if (found->second.running) {
        found->second.running = false;
        transitions_.push_back("stopped " + service);
    }
    return dependents;
}

bool FakeServiceManager::start_locked(const std::string& service, std::set<std::string>& visiting, Failure& failure) {
    const auto found = services_.find(service);
    if (found == services_.end()) {
        failure = Failure{std::error_code(kServiceDoesNotExist, std::system_category()),
                          "The service " + service + " does not exist."};
        return false;
    }
    if (found->second.running) return true;
    if (!visiting.insert(service).second) return true;  // a dependency cycle: the real SCM refuses it earlier
    for (const auto& dependency : found->second.depends_on) {
        if (!start_locked(dependency, visiting, failure)) return false;
    }
    found->second.running = true;
    transitions_.push_back("started " + service);
    return true;
}

Result<Done> FakeServiceManager::start_service(const std::string& service, Duration timeout, std::stop_token cancel) {
    std::unique_lock lock(mutex_);
    calls_.push_back(ServiceCall{ServiceCall::Kind::start, service, false, timeout});
    if (auto failure = scripted_failure({ServiceCall::Kind::start, service}, lock, cancel)) return *failure;
    std::set<std::string> visiting;
    Failure failure;
    if (!start_locked(service, visiting, failure)) return failure;
    return success();
}

// --- FakeProcessRunner -----------------------------------------------------------------

ProcessOutcome exited(int exit_code, std::string stdout_tail, std::string stderr_tail) {
    ProcessOutcome outcome;
    outcome.exit_code = exit_code;
    outcome.stdout_tail = std::move(stdout_tail);
    outcome.stderr_tail = std::move(stderr_tail);
    return outcome;
}

ProcessOutcome timed_out_outcome(std::string stdout_tail, std::string stderr_tail) {
    ProcessOutcome outcome = exited(-1, std::move(stdout_tail), std::move(stderr_tail));
    outcome.timed_out = true;
    return outcome;
}

void FakeProcessRunner::script(const std::filesystem::path& program, Result<ProcessOutcome> outcome) {
    std::lock_guard lock(mutex_);
    scripts_[program].push_back(std::move(outcome));
}

void FakeProcessRunner::set_default(Result<ProcessOutcome> outcome) {
    std::lock_guard lock(mutex_);
    default_.emplace(std::move(outcome));
}

void FakeProcessRunner::block_until_cancelled(const std::filesystem::path& program) {
    std::lock_guard lock(mutex_);
    blocking_.insert(program);
}

std::vector<ProcessCall> FakeProcessRunner::calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
}

Result<ProcessOutcome> FakeProcessRunner::run(const std::filesystem::path& program,
                                              const std::vector<std::string>& args, Duration timeout,
                                              std::stop_token cancel) {
    std::unique_lock lock(mutex_);
    calls_.push_back(ProcessCall{program, args, timeout});
    if (blocking_.contains(program)) {
        blocked_.wait(lock, cancel, [] { return false; });
        ProcessOutcome outcome = exited(-1);
        outcome.cancelled = true;
        return outcome;
    }
    if (auto found = scripts_.find(program); found != scripts_.end() && !found->second.empty()) {
        Result<ProcessOutcome> outcome = std::move(found->second.front());
        found->second.pop_front();
        return outcome;
    }
    if (default_) return *default_;
    return exited(0);
}

// --- FakeProber ------------------------------------------------------------------------

ProbeResult probe_result(const std::string& site, ProbeClass probe_class, std::optional<int> status) {
    ProbeResult result;
    result.site = site;
    result.url = "https://" + site + ".test/health";
    result.probe_class = probe_class;
    if (status) {
        result.status = status;
    } else if (probe_class == ProbeClass::healthy) {
        result.status = 200;
    } else if (probe_class == ProbeClass::client_cert_rejected) {
        result.status = 403;
        result.iis_substatus = 7;
    }
    if (probe_class != ProbeClass::healthy) result.error = "The site answered with " + std::string(to_string(probe_class)) + ".";
    result.timings.total_ms = 5.0;
    return result;
}

void FakeProber::script(const std::string& site, ProbeResult result) { scripts_[site].push_back(std::move(result)); }

void FakeProber::script(const std::string& site, std::vector<ProbeClass> classes) {
    for (const auto probe_class : classes) script(site, probe_result(site, probe_class));
}

void FakeProber::set_function(std::function<ProbeResult(const SiteConfig&)> produce) { produce_ = std::move(produce); }

void FakeProber::release_all() {
    auto held = std::move(held_);
    held_.clear();
    for (auto& [result, done] : held) done(std::move(result));
}

void FakeProber::probe(const SiteConfig& site, std::function<void(ProbeResult)> done) {
    calls_.push_back(site.name);
    ProbeResult result;
    if (auto found = scripts_.find(site.name); found != scripts_.end() && !found->second.empty()) {
        result = std::move(found->second.front());
        found->second.pop_front();
    } else if (produce_) {
        result = produce_(site);
    } else {
        result = probe_result(site.name, ProbeClass::healthy);
    }
    if (hold_) {
        held_.emplace_back(std::move(result), std::move(done));
    } else {
        done(std::move(result));
    }
}

// --- MemoryStateStore ------------------------------------------------------------------

Result<std::optional<std::string>> MemoryStateStore::load() {
    if (load_failure_) return *load_failure_;
    return contents_;
}

Result<Done> MemoryStateStore::save(const std::string& contents) {
    if (save_failure_) return *save_failure_;
    ++saves_;
    contents_ = contents;
    return success();
}

// --- certificate stores ------------------------------------------------------------------

void FakeCertificateStores::put(const std::string& store, DerCertificate certificate) {
    std::lock_guard lock(mutex_);
    stores_[store].push_back(std::move(certificate));
}

void FakeCertificateStores::clear(const std::string& store) {
    std::lock_guard lock(mutex_);
    stores_.erase(store);
}

std::vector<DerCertificate> FakeCertificateStores::contents(const std::string& store) const {
    std::lock_guard lock(mutex_);
    const auto found = stores_.find(store);
    return found == stores_.end() ? std::vector<DerCertificate>{} : found->second;
}

void FakeCertificateStores::fail_next(const std::string& operation, const std::string& store, Failure failure) {
    std::lock_guard lock(mutex_);
    failures_[{operation, store}].push_back(std::move(failure));
}

std::vector<std::string> FakeCertificateStores::calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
}

std::optional<Failure> FakeCertificateStores::scripted(const std::string& operation, const std::string& store) {
    calls_.push_back(operation + " " + store);
    auto found = failures_.find({operation, store});
    if (found == failures_.end() || found->second.empty()) return std::nullopt;
    auto failure = std::move(found->second.front());
    found->second.pop_front();
    return failure;
}

Result<std::vector<DerCertificate>> FakeCertificateStores::list(const std::string& store) {
    std::lock_guard lock(mutex_);
    if (auto failure = scripted("list", store)) return *failure;
    return stores_[store];
}

Result<CertificateStores::Added> FakeCertificateStores::add(const std::string& store, const DerCertificate& certificate) {
    std::lock_guard lock(mutex_);
    if (auto failure = scripted("add", store)) return *failure;
    auto& certificates = stores_[store];
    if (std::find(certificates.begin(), certificates.end(), certificate) != certificates.end()) {
        return Added::already_present;
    }
    certificates.push_back(certificate);
    return Added::added;
}

Result<CertificateStores::Removed> FakeCertificateStores::remove(const std::string& store,
                                                                 const DerCertificate& certificate) {
    std::lock_guard lock(mutex_);
    if (auto failure = scripted("remove", store)) return *failure;
    auto& certificates = stores_[store];
    const auto found = std::find(certificates.begin(), certificates.end(), certificate);
    if (found == certificates.end()) return Removed::not_present;
    certificates.erase(found);
    return Removed::removed;
}

// --- files others read -------------------------------------------------------------------

void RecordingFileReplacer::fail_next(Failure failure) {
    std::lock_guard lock(mutex_);
    failures_.push_back(std::move(failure));
}

std::vector<std::filesystem::path> RecordingFileReplacer::replaced() const {
    std::lock_guard lock(mutex_);
    return replaced_;
}

void RecordingFileReplacer::set_link_count(std::uint64_t links) {
    std::lock_guard lock(mutex_);
    link_count_ = links;
}

class RecordedFile final : public FileToReplace {
public:
    RecordedFile(RecordingFileReplacer& owner, std::filesystem::path file, std::string contents, std::uint64_t links)
        : owner_(owner), file_(std::move(file)), contents_(std::move(contents)), links_(links) {}
    const std::string& contents() const override { return contents_; }
    std::uint64_t link_count() const override { return links_; }
    Result<Done> replace(const std::string& contents) override { return owner_.write(file_, contents); }

private:
    RecordingFileReplacer& owner_;
    std::filesystem::path file_;
    std::string contents_;
    std::uint64_t links_;
};

Result<std::unique_ptr<FileToReplace>> RecordingFileReplacer::open(const std::filesystem::path& file, std::size_t limit) {
    auto contents = read_file_bounded(file, "the bundle", limit);
    if (!contents) return contents.error();
    std::lock_guard lock(mutex_);
    return std::unique_ptr<FileToReplace>(
        std::make_unique<RecordedFile>(*this, file, std::move(contents.value()), link_count_));
}

Result<Done> RecordingFileReplacer::write(const std::filesystem::path& file, const std::string& contents) {
    std::lock_guard lock(mutex_);
    if (!failures_.empty()) {
        auto failure = std::move(failures_.front());
        failures_.pop_front();
        return failure;
    }
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << contents;
    if (!out) return Failure{std::make_error_code(std::errc::io_error), "could not write " + file.string()};
    replaced_.push_back(file);
    return success();
}

// --- FakeSchannelSettings / FakeBindingTrustSource ---------------------------------------------

std::optional<std::uint32_t> FakeSchannelSettings::number(const std::string& name) const {
    const auto found = values_.find(name);
    return found == values_.end() ? std::nullopt : found->second.number;
}

Result<RegistryDword> FakeSchannelSettings::read(std::string_view name) {
    calls_.push_back("read " + std::string(name));
    const auto found = values_.find(name);
    return found == values_.end() ? RegistryDword{} : found->second;
}

Result<Done> FakeSchannelSettings::write(std::string_view name, std::uint32_t value) {
    calls_.push_back("write " + std::string(name) + "=" + std::to_string(value));
    if (write_failure_) {
        Failure failure = std::move(*write_failure_);
        write_failure_.reset();
        return failure;
    }
    if (!ignore_writes_) values_[std::string(name)] = RegistryDword{true, value, "REG_DWORD"};
    return success();
}

Result<BindingTrust> FakeBindingTrustSource::binding_trust(const SiteConfig& site) {
    asked_.push_back(site.name);
    if (const auto failed = failures_.find(site.name); failed != failures_.end()) return failed->second;
    const auto found = per_site_.find(site.name);
    return found == per_site_.end() ? all_ : found->second;
}

Result<BuiltChain> FakeHostTrustInspector::build_chain(const ChainRequest& request) {
    requests.push_back(request);
    if (chains) return chains(request);
    BuiltChain built;
    built.certificates = {request.leaf};
    return built;
}

}  // namespace certheal::test
