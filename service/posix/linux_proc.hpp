#pragma once
// What Linux's /proc says about processes, for the run step's process tree (process_tree.hpp)
// and the reaper of adopted children (child_reaper.hpp). On a system without /proc every
// reading is empty, and those fall back to the program's process group.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

#include "service/posix/file_descriptor.hpp"

namespace certheal {

// One process for good: a pid is reused once its process has been reaped, the start time
// (clock ticks after boot) tells the new process from the old one.
struct ProcessId {
    pid_t pid = 0;
    unsigned long long start_time = 0;
};

// /proc/PID/stat, the fields certheal uses.
struct ProcessEntry {
    pid_t pid = 0;
    pid_t parent = 0;
    pid_t group = 0;    // process group id
    pid_t session = 0;  // session id
    char state = '?';   // R, S, D, T, Z (zombie: ended, not reaped yet), X...
    unsigned long long start_time = 0;
    std::string command;  // the name /proc/PID/comm shows ("sleep"), at most 15 bytes

    ProcessId id() const { return {pid, start_time}; }
    // A zombie has ended: only its exit status is left for its parent to collect.
    bool has_ended() const { return state == 'Z' || state == 'X'; }
};

std::optional<ProcessEntry> read_process(pid_t pid);

// Every process /proc lists now (one snapshot; processes come and go meanwhile).
std::vector<ProcessEntry> list_processes();

// The pids of this process's own children (of any of its threads).
std::vector<pid_t> children_of_this_process();

// Whether the environment the process started with (/proc/PID/environ) holds exactly the
// entry `entry` ("NAME=value"), or an entry that starts with `prefix`. False when it cannot be
// read (the process is gone, is a zombie, or may not be inspected).
bool environment_has_entry(pid_t pid, std::string_view entry);
bool environment_has_entry_starting_with(pid_t pid, std::string_view prefix);

// A pidfd (Linux 5.3+): signals sent through it reach this very process or none, never a
// process that got its pid later. Empty where pidfds are missing or the process is gone.
FileDescriptor open_process_handle(const ProcessId& process);

// Sends `signal` through `handle` when there is one, else with kill() after checking that the
// pid still names the same process. False when the process is gone (or may not be signalled).
bool send_signal(const FileDescriptor& handle, const ProcessId& process, int signal);

}  // namespace certheal
