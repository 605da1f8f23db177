#pragma once
// Runs repair programs on POSIX: posix_spawn without a shell, the child in its own process
// group so a timeout or cancellation can kill everything it started.

#include <cstddef>

#include "core/ports.hpp"

namespace certheal {

class PosixProcessRunner : public ProcessRunner {
public:
    struct Options {
        std::size_t tail_bytes = 4096;            // how much of the end of stdout and of stderr is kept
        Duration kill_grace = Duration{2000};     // between SIGTERM and SIGKILL to the process group
    };

    PosixProcessRunner() = default;
    explicit PosixProcessRunner(Options options) : options_(options) {}

    // argv is `program` followed by `args`; stdin is /dev/null; the environment is certheal's.
    // Output is read until the program itself exits (a background grandchild that still holds
    // the pipes does not keep run() waiting, and is left running). At the deadline, or when
    // `cancel` is requested, the whole process group gets SIGTERM, then SIGKILL after the grace
    // period. A program that a signal ended reports exit_code 128 + signal and sets
    // terminating_signal. Processes that leave the group (setsid, setpgid) are not followed.
    // A cancel requested before the start returns `cancelled` without starting anything.
    Result<ProcessOutcome> run(const std::filesystem::path& program, const std::vector<std::string>& args,
                               Duration timeout, std::stop_token cancel) override;

private:
    Options options_{};
};

}  // namespace certheal
