#include "service/command_help.hpp"

#include <algorithm>
#include <sstream>

#include "service/platform.hpp"
#include "service/text_layout.hpp"

namespace certheal::cli {
namespace {

constexpr std::size_t kHelpWidth = 80;

std::string flag_usage(const FlagSpec& flag) {
    return "[" + std::string(flag.name) + (flag.value.empty() ? "" : " " + std::string(flag.value)) + "]";
}

}  // namespace

std::string short_usage(const CommandSpec& command) {
    return command_usage(command) + "\nRun 'certheal " + std::string(command.name) + " --help' for what each option does.\n";
}

std::string command_list_usage() {
    std::string names;
    for (const auto& command : command_table()) {
        names += (names.empty() ? "" : ", ") + std::string(command.name);
    }
    return "commands: " + names + ".\nRun 'certheal --help' for what each one does.\n";
}

std::string command_usage(const CommandSpec& command) {
    std::string head = "usage: certheal " + std::string(command.name);
    std::vector<std::string> words;
    for (const auto& flag : command.flags) {
        if (!flag.hidden) words.push_back(flag_usage(flag));
    }
    if (words.empty()) return head;
    return head + " " + wrap_words(words, head.size() + 1, head.size() + 1, kHelpWidth);
}

std::string usage_text() {
    std::string text = "usage: certheal <command> [options]\n\ncommands:\n";
    for (const auto& command : command_table()) {
        std::string name(command.name);
        name.resize(std::max<std::size_t>(name.size(), 12), ' ');
        text += "  " + name + "  " + std::string(command.summary) + "\n";
    }
    text += "  --version, --help\n\n";
    for (const std::string& paragraph :
         {"Every command but uninstall takes --config FILE; the default is " + platform::default_config_path().string() +
              ". 'certheal <command> --help' lists a command's options.",
          std::string("Exit codes: 0 ok, 1 a site is unhealthy, 2 bad usage or invalid config, 3 runtime failure.")}) {
        text += wrap_words(words_of(paragraph), 0, 0, kHelpWidth) + "\n";
    }
    return text;
}

std::string command_help(const std::string& name) {
    const auto* command = find_command(name);
    if (!command) return usage_text();
    std::string text = command_usage(*command) + "\n\n";
    std::istringstream paragraphs{std::string(command->details)};
    for (std::string paragraph; std::getline(paragraphs, paragraph);) {
        text += wrap_words(words_of(paragraph), 0, 0, kHelpWidth) + "\n";
    }
    std::size_t width = 0;
    for (const auto& flag : command->flags) {
        if (!flag.hidden) width = std::max(width, flag.name.size() + 1 + flag.value.size());
    }
    if (width > 0) {
        text += "\noptions:\n";
        for (const auto& flag : command->flags) {
            if (flag.hidden) continue;
            std::string left = std::string(flag.name) + (flag.value.empty() ? "" : " " + std::string(flag.value));
            left.resize(width, ' ');
            std::string help(flag.help);
            if (flag.name == "--config") help += " (default: " + platform::default_config_path().string() + ")";
            const std::size_t indent = 2 + width + 2;
            text += "  " + left + "  " + wrap_words(words_of(help), indent, indent, kHelpWidth) + "\n";
        }
    }
    return text;
}

}  // namespace certheal::cli
