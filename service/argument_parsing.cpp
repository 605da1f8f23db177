#include "service/argument_parsing.hpp"

#include <algorithm>

#include "core/base/duration.hpp"
#include "core/base/text.hpp"
#include "core/base/time_format.hpp"
#include "service/command_help.hpp"
#include "service/command_table.hpp"

namespace certheal::cli {

std::size_t edit_distance(std::string_view a, std::string_view b) {
    // Optimal string alignment: Levenshtein plus the swap of two neighbours ("--jsno"), the
    // commonest typo. Three rows of the table; the words are command-line words.
    std::vector<std::size_t> before(b.size() + 1), previous(b.size() + 1), row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            row[j] = std::min({previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                row[j] = std::min(row[j], before[j - 2] + 1);
            }
        }
        before.swap(previous);
        previous.swap(row);
    }
    return previous[b.size()];
}

std::vector<std::string> closest_matches(std::string_view word, const std::vector<std::string>& candidates) {
    // Leading dashes carry no meaning for the distance: "-json" means "--json".
    const auto bare = [](std::string_view text) {
        while (!text.empty() && text.front() == '-') text.remove_prefix(1);
        return text;
    };
    const std::string_view typed = bare(word);
    if (typed.empty()) return {};
    const std::size_t allowed = typed.size() <= 4 ? 1 : typed.size() <= 8 ? 2 : 3;
    std::vector<std::string> best;
    std::size_t best_distance = allowed + 1;
    for (const auto& candidate : candidates) {
        const std::string_view meant = bare(candidate);
        std::size_t distance = edit_distance(typed, meant);
        if (typed.size() >= 3 && meant.substr(0, typed.size()) == typed) distance = std::min<std::size_t>(distance, 1);
        if (distance < best_distance) {
            best = {candidate};
            best_distance = distance;
        } else if (!best.empty() && distance == best_distance &&
                   std::find(best.begin(), best.end(), candidate) == best.end()) {
            best.push_back(candidate);
        }
    }
    return best;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
    const auto meant = closest_matches(word, candidates);
    if (meant.empty()) return {};
    std::vector<std::string> quoted;
    quoted.reserve(meant.size());
    for (const auto& candidate : meant) quoted.push_back("'" + candidate + "'");
    std::string listed = quoted.size() == 1 ? quoted.front() : join(std::vector<std::string>(quoted.begin(), quoted.end() - 1)) + " or " + quoted.back();
    return " Did you mean " + listed + "?";
}

std::optional<Duration> parse_span(std::string_view text) {
    // Days first: "7d" or "1d12h". The config's durations have no days; a look back or a pause does.
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits > 0 && digits <= 5 && digits < text.size() && text[digits] == 'd') {
        const long day_count = std::stol(std::string(text.substr(0, digits)));
        Duration span = std::chrono::hours(24 * day_count);
        const auto rest = text.substr(digits + 1);
        if (!rest.empty()) {
            const auto more = parse_duration(rest);
            if (!more) return std::nullopt;
            span += *more;
        }
        if (span > kLongestDuration) return std::nullopt;
        return span;
    }
    return parse_duration(text);
}

std::optional<TimePoint> parse_since(std::string_view text, TimePoint now) {
    if (const auto back = parse_span(text)) return now - *back;
    return parse_time_rfc3339(text);
}

namespace {

ParseOutcome fail(std::string message, std::string usage_lines) {
    return ParseOutcome{std::nullopt, std::move(message), std::move(usage_lines)};
}

// "certheal: unknown command 'x'." and what was likely meant.
std::string unknown_command_message(const std::string& word) {
    std::vector<std::string> names;
    for (const auto& spec : command_table()) names.emplace_back(spec.name);
    std::string message = "certheal: unknown command '" + word + "'.";
    if (word == "resume-monitoring") {
        // The name the feature request used; `resume` already means closing the circuit.
        message += " Did you mean 'unpause'? ('resume' closes the repair circuit breaker.)";
    } else if (const auto meant = did_you_mean(word, names); !meant.empty()) {
        message += meant;
    } else if (!word.empty() && word[0] == '-') {
        message += " The command comes first, then its options: certheal <command> " + word + " ...";
    }
    return message;
}

// An argument that is none of the command's options: a word where an option belongs, a typo
// of one, or an option of another command.
std::string unknown_argument_message(const CommandSpec& command, const std::string& prefix, const std::string& arg) {
    if (arg.empty() || arg[0] != '-') {
        std::string message = concat({prefix, "unexpected argument '", arg, "'."});
        if (find_flag(command, "--site")) message += " To name a site: --site " + arg + ".";
        return message;
    }
    std::string message = concat({prefix, "unknown option '", arg, "'."});
    if (const auto meant = did_you_mean(arg, visible_flag_names(command)); !meant.empty()) {
        message += meant;
    } else {
        std::vector<std::string> others;
        for (const auto& spec : command_table()) {
            const auto* elsewhere = find_flag(spec, arg);
            if (elsewhere && !elsewhere->hidden) others.emplace_back(spec.name);
        }
        if (!others.empty()) {
            message += " " + arg + " is an option of " + list_text(others) + ", not of " + std::string(command.name) + ".";
        }
    }
    return message;
}

void set_switch(Options& options, const std::string& arg) {
    if (arg == "--json") options.json = true;
    if (arg == "--console") options.console = true;
    if (arg == "--dry-run") options.dry_run = true;
    if (arg == "--force") options.force = true;
    if (arg == "--wide") options.wide = true;
    if (arg == "--follow") options.follow = true;
    if (arg == "--msi-postinstall") options.msi_postinstall = true;
}

// The option's value into options, read where it has a form; the sentence that says what is
// wrong with it, or none.
std::optional<std::string> set_value(Options& options, const std::string& prefix, const std::string& arg,
                                     const std::string& value) {
    if (arg == "--config") options.config = value;
    if (arg == "--site") options.site = value;
    if (arg == "--incident") options.incident = value;
    if (arg == "--reason") {
        // One line in the journal and the status: bounded, and no control characters.
        if (value.size() > 500 || std::any_of(value.begin(), value.end(), [](char c) {
                return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
            })) {
            return prefix + "--reason wants one line of at most 500 characters.";
        }
        options.reason = value;
    }
    if (arg == "--for") {
        const auto span = parse_span(value);
        if (!span || *span <= Duration::zero()) {
            return concat({prefix, "--for wants how long, such as 90m, 2h or 1d12h; '", value, "' is not that."});
        }
        options.pause_for = span;
    }
    if (arg == "--since") {
        // Only whether it reads matters here: any point in time will do.
        if (!parse_since(value, TimePoint{})) {
            return concat({prefix,
                           "--since wants a duration back such as 30m, 24h or 7d, or an RFC 3339 time "
                           "with its zone such as 2026-12-01T00:00Z; '",
                           value, "' is neither."});
        }
        options.since = value;
    }
    return std::nullopt;
}

}  // namespace

ParseOutcome parse_arguments(const std::vector<std::string>& args) {
    Options options;
    if (args.empty()) return fail("certheal: a command is required.", command_list_usage());
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        options.help = true;
        if (args.size() > 1 && find_command(args[1])) options.command = args[1];  // certheal help probe
        return {options, "", ""};
    }
    if (args[0] == "--version" || args[0] == "version") {
        options.version = true;
        return {options, "", ""};
    }
    const CommandSpec* command = find_command(args[0]);
    if (!command) return fail(unknown_command_message(args[0]), command_list_usage());
    options.command = args[0];
    const std::string prefix = "certheal " + options.command + ": ";

    for (std::size_t index = 1; index < args.size(); ++index) {
        std::string arg = args[index];
        if (arg == "--help" || arg == "-h") {
            options.help = true;
            continue;
        }
        std::optional<std::string> inline_value;  // --config=FILE
        if (const auto equals = arg.find('='); arg.rfind("--", 0) == 0 && equals != std::string::npos) {
            inline_value = arg.substr(equals + 1);
            arg.resize(equals);
        }
        const FlagSpec* flag = find_flag(*command, arg);
        if (!flag) return fail(unknown_argument_message(*command, prefix, arg), short_usage(*command));
        if (flag->value.empty()) {
            if (inline_value) return fail(prefix + arg + " takes no value.", short_usage(*command));
            set_switch(options, arg);
            continue;
        }
        std::string value;
        if (inline_value) {
            value = *inline_value;
        } else if (index + 1 < args.size() && !(args[index + 1].rfind("--", 0) == 0 && args[index + 1].size() > 2)) {
            value = args[++index];
        } else {
            return fail(prefix + arg + " needs a value (" + std::string(flag->value) + ").", short_usage(*command));
        }
        if (value.empty()) return fail(prefix + arg + " needs a value (" + std::string(flag->value) + ").",
                                       short_usage(*command));
        if (auto problem = set_value(options, prefix, arg, value)) return fail(std::move(*problem), short_usage(*command));
    }
    return {options, "", ""};
}

}  // namespace certheal::cli
