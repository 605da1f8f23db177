#pragma once
// Runs repair programs on POSIX: posix_spawn without a shell, with a clean minimal environment,
// in / , the child in its own process group; a timeout or cancellation ends the program's whole
// process tree (process_tree.hpp), setsid() descendants included.

#include <cstddef>
#include <string>
#include <vector>

#include "core/model/ports.hpp"

namespace certheal {

class PosixProcessRunner : public ProcessRunner {
public:
    struct Options {
        std::size_t tail_bytes = 4096;            // how much of the end of stdout and of stderr is kept
        Duration kill_grace = Duration{2000};     // between SIGTERM and SIGKILL to the process tree
    };

    // The first runner makes certheal a child subreaper (child_reaper.hpp): orphans of a
    // step's processes become certheal's children, to be found and reaped.
    PosixProcessRunner() : PosixProcessRunner(Options{}) {}
    explicit PosixProcessRunner(Options options);

    // argv is `program` followed by `args`; stdin is /dev/null; the working directory is /;
    // the environment is the clean one of step_environment() plus this run's CERTHEAL_STEP_ID,
    // never certheal's own. Output is read until the program itself exits (a background
    // grandchild that still holds the pipes does not keep run() waiting, is left running and
    // is listed in left_running). At the deadline, or when `cancel` is requested, every process
    // of the program's tree is stopped, sent SIGTERM, and after the grace period SIGKILL, then
    // reaped; `killed` names them. A program that a signal ended reports exit_code 128 + signal
    // and sets terminating_signal. A cancel requested before the start returns `cancelled`
    // without starting anything.
    Result<ProcessOutcome> run(const std::filesystem::path& program, const std::vector<std::string>& args,
                               Duration timeout, std::stop_token cancel) override;

    // What every step's program gets as its environment (before its CERTHEAL_STEP_ID): the one
    // list, with why each variable is there, is in process_runner.cpp.
    const std::vector<std::string>& step_environment() const noexcept { return environment_; }

    // certheal's own process calls this once: certheal starts children only through this
    // runner, so any other child it has is an orphan of some step, to be reaped when it ends.
    static void reap_every_orphan();

private:
    Options options_{};
    std::vector<std::string> environment_;
};

}  // namespace certheal
