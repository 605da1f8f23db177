#include <iostream>
#include <string>
#include <vector>

#include "service/cli.hpp"

#ifdef _WIN32
#include "service/platform.hpp"
#include "service/win/service_host.hpp"
#include "service/win/win_error.hpp"
#endif

namespace {

int run_command_line(const std::vector<std::string>& args) {
    const auto parsed = certheal::cli::parse_arguments(args);
    if (!parsed.options) {
        // The sentence, then only the usage of the command at hand: not the whole help.
        std::cerr << parsed.error << '\n' << parsed.usage;
        return certheal::cli::usage;
    }
    const auto& options = *parsed.options;
#ifdef _WIN32
    // `run` started by the SCM becomes the service; anywhere else the dispatcher says
    // ERROR_FAILED_SERVICE_CONTROLLER_CONNECT at once and certheal runs in the console (Wine
    // takes 10 s to say so; a session check cannot shortcut it: Wine runs services outside session 0).
    if (options.command == "run" && !options.console && !options.help && !options.version) {
        const auto config = options.config.value_or(certheal::platform::default_config_path());
        if (auto exit_code = certheal::win::run_as_service(config)) return *exit_code;
    }
#endif
    return certheal::cli::dispatch(options);
}

}  // namespace

#ifdef _WIN32
int wmain(int argc, wchar_t** argv) {
    std::vector<std::string> args;
    for (int index = 1; index < argc; ++index) args.push_back(certheal::win::to_utf8(argv[index]));
    return run_command_line(args);
}
#else
int main(int argc, char** argv) { return run_command_line(std::vector<std::string>(argv + 1, argv + argc)); }
#endif
