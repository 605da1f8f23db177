#pragma once
// Runs repair programs on Windows: CreateProcessW without a shell, the child in a job object
// so a timeout or cancellation can end everything it started.

#include <cstddef>
#include <string>
#include <vector>

#include "core/model/ports.hpp"

namespace certheal::win {

// The command line CreateProcessW gets: each argument quoted the way CommandLineToArgvW
// and the Microsoft C runtime split it again.
std::wstring build_command_line(const std::filesystem::path& program, const std::vector<std::string>& args);

// The environment block every step's program gets: "NAME=value\0...\0\0", sorted by name
// without regard to case as CreateProcessW requires. The list, with why each variable is
// there, is in process_runner.cpp (README.md, "What a run step gets").
std::wstring step_environment_block();

class WinProcessRunner final : public ProcessRunner {
public:
    struct Options {
        std::size_t tail_bytes = 4096;      // how much of the end of stdout and of stderr is kept
        Duration drain_after_exit{500};     // how long output is still read once the program exited
    };

    WinProcessRunner() = default;
    explicit WinProcessRunner(Options options) : options_(options) {}

    // stdin is NUL; no console window; the working directory is the system folder
    // (C:\Windows\system32, where the SCM starts services); the environment is a clean one
    // (the list is in process_runner.cpp), never certheal's own. Output is read until the
    // program itself exits (plus a short drain): a background grandchild that still holds the
    // pipes does not keep run() waiting, is left running and is listed in left_running. At the
    // deadline, or when `cancel` is requested, the whole job (the program and what it started;
    // nothing can break away from it) is terminated and `killed` names its processes.
    // A cancel requested before the start returns `cancelled` without starting anything.
    Result<ProcessOutcome> run(const std::filesystem::path& program, const std::vector<std::string>& args,
                               Duration timeout, std::stop_token cancel) override;

private:
    Options options_{};
};

}  // namespace certheal::win
