#include "service/posix/child_reaper.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/prctl.h>
#endif

namespace certheal {
namespace {

// How often certheal looks for ended children while it has some that no run waits for. An
// ended child costs only its process table slot meanwhile.
constexpr std::chrono::seconds look_interval{1};

bool become_subreaper() {
#if defined(__linux__) && defined(PR_SET_CHILD_SUBREAPER)
    return ::prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL) == 0;
#else
    return false;
#endif
}

bool is_from(const std::map<pid_t, unsigned long long>& known, const ProcessEntry& process) {
    const auto found = known.find(process.pid);
    return found != known.end() && found->second == process.start_time;
}

// Forgets the entries whose process is gone (its pid may name another process next).
void forget_gone(std::map<pid_t, unsigned long long>& known) {
    for (auto entry = known.begin(); entry != known.end();) {
        const auto process = read_process(entry->first);
        if (!process || process->start_time != entry->second) {
            entry = known.erase(entry);
        } else {
            ++entry;
        }
    }
}

}  // namespace

ChildReaper& ChildReaper::instance() {
    static ChildReaper reaper;
    return reaper;
}

ChildReaper::ChildReaper()
    : subreaper_(become_subreaper()), marker_prefix_("CERTHEAL_STEP_ID=" + std::to_string(::getpid()) + ".") {}

ChildReaper::~ChildReaper() {
    if (thread_.joinable()) {
        thread_.request_stop();
        thread_.join();
    }
}

std::string ChildReaper::next_step_marker() {
    std::lock_guard lock(mutex_);
    return marker_prefix_ + std::to_string(next_step_++);
}

pid_t ChildReaper::spawn_claimed(const std::function<pid_t()>& spawn) {
    std::lock_guard lock(mutex_);
    const pid_t pid = spawn();
    if (pid > 0) claimed_.insert(pid);
    return pid;
}

void ChildReaper::claim(pid_t pid) {
    std::lock_guard lock(mutex_);
    claimed_.insert(pid);
}

void ChildReaper::release(pid_t pid) {
    std::lock_guard lock(mutex_);
    if (const auto found = claimed_.find(pid); found != claimed_.end()) claimed_.erase(found);
}

void ChildReaper::adopt(const std::vector<ProcessId>& processes) {
    {
        std::lock_guard lock(mutex_);
        for (const auto& process : processes) adopted_[process.pid] = process.start_time;
    }
    wake();
}

void ChildReaper::reap_ended(const std::vector<ProcessId>& processes) {
    std::lock_guard lock(mutex_);
    const pid_t self = ::getpid();
    for (const auto& id : processes) {
        if (claimed_.contains(id.pid)) continue;
        const auto process = read_process(id.pid);
        if (!process || process->start_time != id.start_time || process->parent != self || !process->has_ended()) {
            continue;
        }
        reap_child_locked(id.pid);
        adopted_.erase(id.pid);
    }
}

void ChildReaper::reap_every_orphan() {
    std::lock_guard lock(mutex_);
    reap_every_orphan_ = true;  // applies from the next look: before the first run there is nothing to reap
}

void ChildReaper::wake() {
    std::lock_guard lock(mutex_);
    wake_requested_ = true;
    if (!thread_.joinable()) {
        thread_ = std::jthread([this](const std::stop_token& stop) { watch(stop); });
    }
    woken_.notify_one();
}

void ChildReaper::reap_child_locked(pid_t pid) {
    siginfo_t info;
    std::memset(&info, 0, sizeof info);
    while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG) != 0 && errno == EINTR) {
    }
}

bool ChildReaper::sweep_locked() {
    bool unclaimed_children = false;
    for (const pid_t child : children_of_this_process()) {
        if (claimed_.contains(child)) continue;  // a run waits for it, or pins its pid
        const auto process = read_process(child);
        if (!process) continue;
        if (process->has_ended()) {
            if (reap_every_orphan_ || is_from(adopted_, *process)) {
                reap_child_locked(child);
                adopted_.erase(child);
            } else {
                unclaimed_children = true;  // started by this program's own code, which reaps it
            }
            continue;
        }
        unclaimed_children = true;
        // Still running: tell now whether it came from a step, while its environment can be read.
        if (!is_from(adopted_, *process) && !is_from(not_from_step_, *process)) {
            auto& known = environment_has_entry_starting_with(child, marker_prefix_) ? adopted_ : not_from_step_;
            known[child] = process->start_time;
        }
    }
    forget_gone(adopted_);
    forget_gone(not_from_step_);
    return unclaimed_children;
}

void ChildReaper::watch(const std::stop_token& stop) {
    std::unique_lock lock(mutex_);
    while (!stop.stop_requested()) {
        wake_requested_ = false;
        const bool keep_looking = sweep_locked();
        if (keep_looking) {
            woken_.wait_for(lock, stop, look_interval, [this] { return wake_requested_; });
        } else {
            woken_.wait(lock, stop, [this] { return wake_requested_; });
        }
    }
}

}  // namespace certheal
