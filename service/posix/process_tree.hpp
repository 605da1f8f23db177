#pragma once
// The processes of one run step (Linux /proc), so that a timeout or a cancel ends every one of
// them, setsid() and double-forked descendants included, and the step's event names them.
//
// Who belongs to the step. certheal is a child subreaper (child_reaper.hpp): a process of the
// step whose parent exits is adopted by certheal, not by init, so it stays reachable. From one
// /proc snapshot a process belongs to the step when
//   - it is the step's program, or a process found earlier that is still the same process
//     (pid and start time): the anchors;
//   - its parent is an anchor (the ppid links);
//   - its process group or its session is named after an anchor: what a member started after
//     calling setsid() or setpgid(0, 0), even once the member's parent has gone. Those ids are
//     safe to follow: a pid is not reused while its process (or its unreaped zombie) exists,
//     and certheal does not reap the step's program before the tree is done;
//   - or it is certheal's child (adopted) and its environment holds this run's
//     CERTHEAL_STEP_ID: a double-forked daemon whose parent exited before anyone saw it.
// Other children of certheal (a program another worker thread runs at the same time, what
// earlier steps left running) have another marker or none and none of these links: they are
// never counted and never signalled.
//
// Not found: a process that lost every link to the step before it was first seen AND started
// with an environment without the marker (env -i) or wrote over it (nginx writes its process
// title there). certheal signals only what it can attribute, so such a process is left alone.
//
// Signals go through pidfds, so a pid that was reused meanwhile is never signalled.

#include <cstddef>
#include <string>
#include <vector>

#include <sys/types.h>

#include "service/posix/child_reaper.hpp"
#include "service/posix/linux_proc.hpp"

namespace certheal {

class StepTree {
public:
    // `program` is the step's program, certheal's child, not reaped yet. With `pin`, every
    // process found is claimed from `reaper` until the tree is destroyed, so the reaper thread
    // does not reap (and free the pid of) a process the tree still follows.
    StepTree(ChildReaper& reaper, pid_t program, std::string marker, bool pin);
    ~StepTree();
    StepTree(const StepTree&) = delete;
    StepTree& operator=(const StepTree&) = delete;

    // Looks at /proc once and adds what belongs to the step now. Returns how many were new.
    std::size_t grow();

    // Stops every process of the step (SIGSTOP) and looks again until no new one appears:
    // afterwards none of them can start another process until it is continued.
    void freeze();

    // Sends `signal` to every process of the step still running (and to the program's process
    // group, which is all there is to signal where /proc cannot be read).
    void signal_running(int signal);

    bool any_running() const;

    // "<pid> <command name>" of the processes found running that have ended since, in the
    // order found (the program first).
    std::vector<std::string> ended() const;
    // "<pid> <command name>" of the processes still running.
    std::vector<std::string> running() const;
    std::vector<ProcessId> all_ids() const;

private:
    struct Member {
        ProcessId id;
        std::string command;
        FileDescriptor handle;  // pidfd, when the kernel has them
        bool running_when_found = false;
        bool stopped = false;
    };

    bool is_running(const Member& member) const;
    void add(const ProcessEntry& process);

    ChildReaper& reaper_;
    const pid_t program_;
    const std::string marker_;
    const bool pin_;
    std::vector<Member> members_;
};

}  // namespace certheal
