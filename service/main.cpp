#include <iostream>
#include <string>
#include <vector>

#include "service/cli.hpp"

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    const auto parsed = certheal::cli::parse_arguments(args);
    if (!parsed.options) {
        std::cerr << parsed.error << "\n\n" << certheal::cli::usage_text();
        return certheal::cli::usage;
    }
    return certheal::cli::dispatch(*parsed.options);
}
