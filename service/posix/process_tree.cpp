#include "service/posix/process_tree.hpp"

#include <csignal>
#include <deque>
#include <unordered_map>
#include <utility>

#include <unistd.h>

namespace certheal {
namespace {

std::string describe(const ProcessId& id, const std::string& command) {
    return std::to_string(id.pid) + " " + command;
}

}  // namespace

StepTree::StepTree(ChildReaper& reaper, pid_t program, std::string marker, bool pin)
    : reaper_(reaper), program_(program), marker_(std::move(marker)), pin_(pin) {
    if (const auto process = read_process(program)) add(*process);
}

StepTree::~StepTree() {
    if (!pin_) return;
    for (const auto& member : members_) reaper_.release(member.id.pid);
}

void StepTree::add(const ProcessEntry& process) {
    Member member;
    member.id = process.id();
    member.command = process.command;
    member.running_when_found = !process.has_ended();
    if (member.running_when_found) member.handle = open_process_handle(member.id);
    if (pin_) reaper_.claim(member.id.pid);
    members_.push_back(std::move(member));
}

std::size_t StepTree::grow() {
    const auto snapshot = list_processes();
    const pid_t self = ::getpid();

    // Each process under the ids that link it to another: its parent, and the group and the
    // session it is in when another process leads them.
    std::unordered_map<pid_t, const ProcessEntry*> by_pid;
    std::unordered_multimap<pid_t, const ProcessEntry*> linked_to;
    for (const auto& process : snapshot) {
        by_pid.emplace(process.pid, &process);
        linked_to.emplace(process.parent, &process);
        if (process.group != process.pid && process.group != process.parent) linked_to.emplace(process.group, &process);
        if (process.session != process.pid && process.session != process.group && process.session != process.parent) {
            linked_to.emplace(process.session, &process);
        }
    }

    // Anchors: the members that still exist as the same process, running or a zombie.
    std::unordered_map<pid_t, unsigned long long> members_now;
    std::deque<pid_t> anchors;
    for (auto& member : members_) {
        const auto found = by_pid.find(member.id.pid);
        if (found == by_pid.end() || found->second->start_time != member.id.start_time) continue;
        if (!found->second->has_ended()) member.command = found->second->command;  // its name after an exec
        members_now.emplace(member.id.pid, member.id.start_time);
        anchors.push_back(member.id.pid);
    }

    const auto before = members_.size();
    const auto join = [&](const ProcessEntry& process) {
        if (process.pid == self || members_now.contains(process.pid)) return;
        add(process);
        members_now.emplace(process.pid, process.start_time);
        anchors.push_back(process.pid);
    };
    // Adopted by certheal, carrying this run's marker.
    for (const auto& process : snapshot) {
        if (process.parent == self && !process.has_ended() && !members_now.contains(process.pid) &&
            environment_has_entry(process.pid, marker_)) {
            join(process);
        }
    }
    while (!anchors.empty()) {
        const pid_t anchor = anchors.front();
        anchors.pop_front();
        const auto [first, last] = linked_to.equal_range(anchor);
        for (auto linked = first; linked != last; ++linked) join(*linked->second);
    }
    return members_.size() - before;
}

void StepTree::freeze() {
    // A process that a SIGSTOP is pending for cannot finish a fork(): the kernel restarts the
    // call once it is continued. So after each round nothing new can appear under the stopped
    // processes, and a round that stops nobody new means the tree is complete. The bound only
    // guards against a tree that outgrows the rounds (a fork bomb).
    for (int round = 0; round < 100; ++round) {
        ::kill(-program_, SIGSTOP);
        grow();
        std::size_t stopped_now = 0;
        for (auto& member : members_) {
            if (member.stopped || !is_running(member)) continue;
            member.stopped = true;
            if (send_signal(member.handle, member.id, SIGSTOP)) ++stopped_now;
        }
        if (stopped_now == 0) return;
    }
}

void StepTree::signal_running(int signal) {
    for (auto& member : members_) {
        if (!is_running(member)) continue;
        send_signal(member.handle, member.id, signal);
        if (signal == SIGCONT) member.stopped = false;
    }
    // The program's process group: everything there is to signal where /proc cannot be read.
    // Its id stays the program's while the program is not reaped.
    ::kill(-program_, signal);
}

bool StepTree::is_running(const Member& member) const {
    const auto process = read_process(member.id.pid);
    return process && process->start_time == member.id.start_time && !process->has_ended();
}

bool StepTree::any_running() const {
    for (const auto& member : members_) {
        if (is_running(member)) return true;
    }
    return false;
}

std::vector<std::string> StepTree::ended() const {
    std::vector<std::string> names;
    for (const auto& member : members_) {
        if (member.running_when_found && !is_running(member)) names.push_back(describe(member.id, member.command));
    }
    return names;
}

std::vector<std::string> StepTree::running() const {
    std::vector<std::string> names;
    for (const auto& member : members_) {
        if (is_running(member)) names.push_back(describe(member.id, member.command));
    }
    return names;
}

std::vector<ProcessId> StepTree::all_ids() const {
    std::vector<ProcessId> ids;
    ids.reserve(members_.size());
    for (const auto& member : members_) ids.push_back(member.id);
    return ids;
}

}  // namespace certheal
