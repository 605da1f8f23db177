#pragma once
// certheal as a child subreaper (Linux, prctl PR_SET_CHILD_SUBREAPER), and the reaping that
// this makes certheal's job.
//
// Why: a process of a run step whose parent exits (a double-forked daemon, a `setsid cmd &`
// whose shell was killed) is adopted by the nearest subreaper instead of init. With certheal
// as subreaper every process of a step stays reachable from certheal, so a timeout or cancel
// can find and end all of them (process_tree.hpp).
//
// The consequence: those orphans are certheal's children now, and one that ends stays a
// zombie until certheal reaps it. The runner reaps what it kills at once; a thread reaps the
// rest (daemons a step left running, which may end hours later) while certheal has any such
// child, and sleeps while it has none. It never reaps a child a run is still waiting for
// (claimed), and reaps a child it cannot tell came from a step only after
// reap_every_orphan().
//
// One per process, because the subreaper attribute is: the first PosixProcessRunner sets it.

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

#include "service/posix/linux_proc.hpp"

namespace certheal {

class ChildReaper {
public:
    // The first call makes this process a child subreaper.
    static ChildReaper& instance();

    ChildReaper(const ChildReaper&) = delete;
    ChildReaper& operator=(const ChildReaper&) = delete;

    // False where the kernel refused (before Linux 3.4) or on another system: orphans then go
    // to init, and a step's tree is what is still linked to its program.
    bool is_subreaper() const noexcept { return subreaper_; }

    // A new "CERTHEAL_STEP_ID=<certheal's pid>.<n>" for one run: every process of the run
    // inherits it in its environment unless it replaces its environment.
    std::string next_step_marker();

    // Runs `spawn` (which starts one child and returns its pid, or -1) and claims the child in
    // the same breath: a program that exits at once keeps its exit status for the run that
    // waits for it, never reaped by the thread first.
    pid_t spawn_claimed(const std::function<pid_t()>& spawn);
    // A claimed pid is never reaped here; release() once the run reaped it or no longer needs
    // its pid to stay pinned. Claims count: claim twice, release twice.
    void claim(pid_t pid);
    void release(pid_t pid);

    // Processes of a step that certheal leaves running: reap each once it ended and has
    // become certheal's child. Wakes the thread.
    void adopt(const std::vector<ProcessId>& processes);
    // Reaps those of `processes` that ended, are certheal's children and are not claimed.
    void reap_ended(const std::vector<ProcessId>& processes);

    // certheal starts children only through its runner, so every other child of certheal is an
    // orphan of some step: reap it when it ends even if its environment no longer says which
    // step it came from. certheal's composition root says so; test programs that start
    // children of their own (and wait for them) do not.
    void reap_every_orphan();

    // A run ended: look at certheal's children now (and keep looking while any are left).
    void wake();

private:
    ChildReaper();
    ~ChildReaper();

    // Reaps what may be reaped; true while certheal has children no run claims (the thread
    // keeps looking while there are).
    bool sweep_locked();
    void reap_child_locked(pid_t pid);
    void watch(const std::stop_token& stop);

    const bool subreaper_;
    const std::string marker_prefix_;  // "CERTHEAL_STEP_ID=<pid>."
    std::mutex mutex_;
    std::condition_variable_any woken_;
    bool wake_requested_ = false;
    bool reap_every_orphan_ = false;
    std::size_t next_step_ = 1;
    std::multiset<pid_t> claimed_;
    std::map<pid_t, unsigned long long> adopted_;        // pid -> start time: from a step
    std::map<pid_t, unsigned long long> not_from_step_;  // children already looked at, without a marker
    std::jthread thread_;  // started by the first wake(): certheal without steps has no such thread
};

}  // namespace certheal
