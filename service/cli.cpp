#include "service/cli.hpp"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <set>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include <boost/asio/io_context.hpp>

#include "config/config.hpp"
#include "core/base/duration.hpp"
#include "core/base/text.hpp"
#include "core/base/time_format.hpp"
#include "core/probe/https_prober.hpp"
#include "core/record/journal.hpp"
#include "core/policy/monitor.hpp"
#include "core/repair/preflight.hpp"
#include "core/runtime/asio_runtime.hpp"
#include "service/command_support.hpp"
#include "service/diagnose_command.hpp"
#include "service/platform.hpp"
#include "service/operator_commands.hpp"
#include "service/run.hpp"
#include "service/start_checks.hpp"

namespace certheal::cli {
namespace {

constexpr FlagSpec kConfigFlag{"--config", "FILE", "the configuration file"};
constexpr std::size_t kHelpWidth = 80;

}  // namespace

const std::vector<CommandSpec>& command_table() {
    static const std::vector<CommandSpec> table = {
        {"check-config",
         "check the configuration as run does before it starts",
         {kConfigFlag},
         "Reads and validates the configuration and applies every check that 'certheal run' applies "
         "before it starts (who may change the file, among others). Every error is printed on stderr as "
         "'/json/pointer: message' (a check of the file itself names the file instead), warnings as "
         "'warning: ...'; then what the host looks like now (pre-flight: certificates, trust), which "
         "never fails the check.\n"
         "Exit code 0 when valid (warnings allowed), 2 when not.\n"},
        {"probe",
         "probe the sites once and say what certheal would do",
         {kConfigFlag,
          {"--site", "NAME", "probe only this site"},
          {"--json", "", "one JSON object per site per line instead of the table"}},
         "Probes every site (or one) once, concurrently, and prints a table, or with --json one JSON "
         "object per site per line. Changes nothing. The REPAIR column (JSON: \"symptom\" and "
         "\"would_repair\") says whether the class is one of the site's symptoms, so that the service "
         "would start a repair once it has seen it failure_threshold times in a row, and whether "
         "remediation is enabled (not disabled, not a dry run).\n"
         "Exit code 0 when every probed site is healthy, 1 when one is not, 2 bad usage or config, 3 "
         "runtime failure.\n"},
        {"diagnose",
         "name the cause of a 403.16 on this host (Windows)",
         {kConfigFlag,
          {"--site", "NAME", "diagnose only this site"},
          {"--json", "", "one JSON object per site per line instead of text"}},
         "Windows: predicts whether Schannel would accept certheal's client certificate for every site "
         "(or one) and names the cause when it would not: reads the Schannel values (ClientAuthTrustMode, "
         "SendTrustedIssuerList), the site's http.sys SSL binding, the store of trusted issuers and the "
         "size of the issuer list, and builds the certificate's chain as Schannel would. Prints the facts, "
         "a verdict, the cause and its fix, and the host trust fingerprint; with --json one JSON object "
         "per site per line. Changes nothing. Elsewhere it says it is a Windows diagnosis and exits 0.\n"
         "Exit code 0 when no cause was found, 1 when one was, 2 bad usage or config, 3 when part of the "
         "host could not be read.\n"},
        {"run",
         "run the monitor (the service)",
         {kConfigFlag, {"--console", "", "run in the console even where a service manager could start it"}},
         "Runs the monitor: probes the sites on their interval, confirms symptoms and repairs them under "
         "the remediation policy, writing every event to the journal and the system log. Started by the "
         "Windows SCM it runs as a service; otherwise in the console, where events are echoed on stderr. "
         "SIGINT/SIGTERM (Ctrl+C) stop it cleanly after the current repair step; SIGHUP reloads the "
         "configuration (a bad one is reported and ignored).\n"},
        {"history",
         "show the journal: events, incidents, repairs",
         {kConfigFlag,
          {"--since", "WHEN", "only events since then: 30m, 24h, 7d back, or a time such as 2026-12-01T00:00Z"},
          {"--site", "NAME", "only the events of this site and of its incidents"},
          {"--incident", "ID", "only the events of this incident (symptom, repair, outcome)"},
          {"--follow", "", "after the journal so far, print new events as they come, until Ctrl+C"},
          {"--json", "", "the journal's own JSON lines instead of lines for people"}},
         "Prints the journal (<state_dir>/journal.jsonl and its rotated files, oldest first) as lines for "
         "people, or with --json as the raw JSON lines. The filters combine.\n"
         "WHEN is a duration back from now (units d, h, m, s: 7d, 1d12h, 90m) or an RFC 3339 time with "
         "its zone (2026-12-01T08:00+01:00, 2026-12-01T00:00Z); a date alone (2026-12-01) is midnight "
         "UTC. With --follow it waits for the journal to change (no polling) and follows it across "
         "rotation; Ctrl+C ends it with exit code 0.\n"},
        {"status",
         "show the service, its policy and the health of each site",
         {kConfigFlag,
          {"--wide", "", "every column and whole times, wider than 80 columns"},
          {"--json", "", "the whole report as one JSON object"}},
         "Shows whether the certheal service (daemon) runs, whether it repairs (enabled, DRY RUN or "
         "disabled), and what it last wrote to <state_dir>/status.json: the repair policy (circuit "
         "breaker, attempts left in the window, cooldown, last repair) and per site the class, since "
         "when, when it is probed next and when the first of its certificates expires. The table fits 80 "
         "columns; --wide adds the incident and both certificates' expiry, and shows whole times.\n"
         "Exit code 0 when the service runs and every site is healthy, 1 when a site is not, 3 when it "
         "cannot tell (the service does not run, or has not probed every site yet).\n"},
        {"repair",
         "run the repair now, by hand",
         {kConfigFlag,
          {"--site", "NAME", "verify only this site afterwards"},
          {"--dry-run", "", "say what each step would do, change nothing"},
          {"--force", "", "repair even with the circuit breaker open, the budget spent or repairs paused"}},
         "Runs the configured repair workflow now, in the foreground, printing each event as 'run "
         "--console' does, and verifies the sites (all, or --site NAME). It takes the same host-wide "
         "repair lock as the service, so it never overlaps a repair of the service; its journal events "
         "carry \"manual\": true. It counts toward the repair budget but ignores the cooldown, and it is "
         "refused while a repair runs, while the circuit breaker is open or the budget is spent, or while "
         "certheal pause holds the host (or the --site named) "
         "(--force repairs anyway). Ctrl+C stops it after the current step.\n"
         "Exit code 0 repaired and verified (or dry run), 1 the repair failed or the sites are still "
         "unhealthy, 2 bad usage or config, 3 refused or runtime failure.\n"},
        {"resume",
         "close the circuit breaker, clear the repair budget",
         {kConfigFlag},
         "Closes an open repair circuit breaker and clears the repair budget. When the service runs, it "
         "asks the service (Windows: SCM control 200, administrators only; Linux: SIGUSR1 to the pid in "
         "<state_dir>/certheal.pid); otherwise it changes the saved state under the repair lock. Either "
         "way the journal gets circuit_closed, reason operator.\n"},
        {"pause",
         "pause repairs for maintenance; probes go on",
         {kConfigFlag,
          {"--for", "DURATION", "how long: 90m, 2h, 1d12h (default: until certheal unpause)"},
          {"--site", "NAME", "pause only this site's repairs"},
          {"--reason", "TEXT", "why, for the journal and status"}},
         "Pauses repairs of the whole host, or of one site with --site, for planned work on the web "
         "server: probes go on, a symptom confirmed meanwhile is recorded (repair_skipped, reason paused, "
         "until when), and no repair starts for it. A repair already running finishes. The pause is "
         "saved in the state folder, so it survives a restart of certheal, and ends by itself after "
         "--for, or at certheal unpause. A new pause of the same scope replaces the old one. The journal "
         "gets paused with the user who asked; a running service is told at once (Windows: SCM control "
         "201; Linux: SIGUSR2) and status shows PAUSED until <time>.\n"
         "Exit code 0 paused, 2 bad usage or config, 3 the state could not be saved.\n"},
        {"unpause",
         "end a pause of repairs",
         {kConfigFlag, {"--site", "NAME", "end only this site's pause"}},
         "Ends the pause of repairs: every pause (the host's and each site's), or with --site only that "
         "site's. A confirmed symptom is repaired again from its next probe on. The journal gets "
         "unpaused with the user who asked (a pause that runs out says \"by itself\").\n"
         "Exit code 0 (also when nothing was paused), 2 bad usage or config, 3 the state could not be "
         "saved.\n"},
        {"install",
         "register the Windows service",
         {kConfigFlag,
          {"--msi-postinstall", "",
           "what the MSI cannot set: recovery actions, delayed start, who may control the service",
           /*hidden=*/true}},
         "Windows: registers certheal as an automatic (delayed start) service running as LocalSystem, "
         "with SCM recovery actions (restart after 1, 1 and 5 minutes), access rules that let only "
         "administrators control it, the Event Log source and a protected %ProgramData%\\certheal folder. "
         "The MSI does the same. On Linux use the systemd unit certheal.service.\n"},
        {"uninstall",
         "remove the Windows service",
         {},
         "Windows: stops and removes the service and the Event Log source. The configuration and the "
         "journal stay in place.\n"},
    };
    return table;
}

const CommandSpec* find_command(std::string_view name) {
    for (const auto& command : command_table()) {
        if (command.name == name) return &command;
    }
    return nullptr;
}

namespace {

const FlagSpec* find_flag(const CommandSpec& command, std::string_view name) {
    for (const auto& flag : command.flags) {
        if (flag.name == name) return &flag;
    }
    return nullptr;
}

std::vector<std::string> visible_flag_names(const CommandSpec& command) {
    std::vector<std::string> names;
    for (const auto& flag : command.flags) {
        if (!flag.hidden) names.emplace_back(flag.name);
    }
    names.emplace_back("--help");
    return names;
}

// Words laid out in lines of at most `width` columns; continuation lines start with `indent`
// spaces. A word longer than a line gets a line of its own.
std::string wrap_words(const std::vector<std::string>& words, std::size_t first_column, std::size_t indent,
                       std::size_t width) {
    std::string text;
    std::size_t column = first_column;
    bool line_empty = true;
    for (const auto& word : words) {
        if (!line_empty && column + 1 + word.size() > width) {
            text += "\n" + std::string(indent, ' ');
            column = indent;
            line_empty = true;
        }
        if (!line_empty) {
            text += ' ';
            ++column;
        }
        text += word;
        column += word.size();
        line_empty = false;
    }
    return text;
}

std::vector<std::string> words_of(std::string_view text) {
    std::vector<std::string> words;
    std::istringstream in{std::string(text)};
    for (std::string word; in >> word;) words.push_back(word);
    return words;
}

std::string flag_usage(const FlagSpec& flag) {
    return "[" + std::string(flag.name) + (flag.value.empty() ? "" : " " + std::string(flag.value)) + "]";
}

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

}  // namespace

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

namespace {

// " Did you mean 'a'?" or " Did you mean 'a' or 'b'?"; empty when nothing is near.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
    const auto meant = closest_matches(word, candidates);
    if (meant.empty()) return {};
    std::vector<std::string> quoted;
    quoted.reserve(meant.size());
    for (const auto& candidate : meant) quoted.push_back("'" + candidate + "'");
    std::string listed = quoted.size() == 1 ? quoted.front() : join(std::vector<std::string>(quoted.begin(), quoted.end() - 1)) + " or " + quoted.back();
    return " Did you mean " + listed + "?";
}

}  // namespace

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

ParseOutcome parse_arguments(const std::vector<std::string>& args) {
    Options options;
    auto fail = [](std::string message, std::string usage_lines) {
        return ParseOutcome{std::nullopt, std::move(message), std::move(usage_lines)};
    };
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
    if (!command) {
        std::vector<std::string> names;
        for (const auto& spec : command_table()) names.emplace_back(spec.name);
        std::string message = "certheal: unknown command '" + args[0] + "'.";
        if (args[0] == "resume-monitoring") {
            // The name the feature request used; `resume` already means closing the circuit.
            message += " Did you mean 'unpause'? ('resume' closes the repair circuit breaker.)";
        } else if (const auto meant = did_you_mean(args[0], names); !meant.empty()) {
            message += meant;
        } else if (!args[0].empty() && args[0][0] == '-') {
            message += " The command comes first, then its options: certheal <command> " + args[0] + " ...";
        }
        return fail(message, command_list_usage());
    }
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
        if (!flag) {
            if (arg.empty() || arg[0] != '-') {
                std::string message = concat({prefix, "unexpected argument '", arg, "'."});
                if (find_flag(*command, "--site")) message += " To name a site: --site " + arg + ".";
                return fail(message, short_usage(*command));
            }
            std::string message = concat({prefix, "unknown option '", arg, "'."});
            if (const auto meant = did_you_mean(arg, visible_flag_names(*command)); !meant.empty()) {
                message += meant;
            } else {
                std::vector<std::string> others;
                for (const auto& spec : command_table()) {
                    const auto* elsewhere = find_flag(spec, arg);
                    if (elsewhere && !elsewhere->hidden) others.emplace_back(spec.name);
                }
                if (!others.empty()) {
                    message += " " + arg + " is an option of " + list_text(others) + ", not of " + options.command + ".";
                }
            }
            return fail(message, short_usage(*command));
        }
        if (flag->value.empty()) {
            if (inline_value) return fail(prefix + arg + " takes no value.", short_usage(*command));
            if (arg == "--json") options.json = true;
            if (arg == "--console") options.console = true;
            if (arg == "--dry-run") options.dry_run = true;
            if (arg == "--force") options.force = true;
            if (arg == "--wide") options.wide = true;
            if (arg == "--follow") options.follow = true;
            if (arg == "--msi-postinstall") options.msi_postinstall = true;
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
        if (arg == "--config") options.config = value;
        if (arg == "--site") options.site = value;
        if (arg == "--incident") options.incident = value;
        if (arg == "--reason") {
            // One line in the journal and the status: bounded, and no control characters.
            if (value.size() > 500 || std::any_of(value.begin(), value.end(), [](char c) {
                    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
                })) {
                return fail(prefix + "--reason wants one line of at most 500 characters.", short_usage(*command));
            }
            options.reason = value;
        }
        if (arg == "--for") {
            const auto span = parse_span(value);
            if (!span || *span <= Duration::zero()) {
                return fail(concat({prefix, "--for wants how long, such as 90m, 2h or 1d12h; '", value, "' is not that."}),
                            short_usage(*command));
            }
            options.pause_for = span;
        }
        if (arg == "--since") {
            // Only whether it reads matters here: any point in time will do.
            if (!parse_since(value, TimePoint{})) {
                return fail(concat({prefix,
                                    "--since wants a duration back such as 30m, 24h or 7d, or an RFC 3339 time "
                                    "with its zone such as 2026-12-01T00:00Z; '",
                                    value, "' is neither."}),
                            short_usage(*command));
            }
            options.since = value;
        }
    }
    return {options, "", ""};
}

namespace {

// "certheal probe: no site named 'intranat' in FILE. Did you mean 'intranet'? Its sites: ..."
void report_unknown_site(const Options& options, const Config& config) {
    std::vector<std::string> names;
    for (const auto& site : config.sites) names.push_back(site.name);
    std::cerr << "certheal " << options.command << ": no site named '" << options.site.value_or("") << "' in "
              << config_path_of(options).string() << ".";
    std::cerr << did_you_mean(options.site.value_or(""), names);
    std::cerr << " Its sites: " << join(names) << ".\n";
}

std::string optional_text(const std::optional<int>& value) { return value ? std::to_string(*value) : "-"; }

std::string fixed(double value) {
    std::ostringstream out;
    out << std::fixed << std::setprecision(1) << value;
    return out.str();
}

// Whether a probe's class would start a repair at this site: one of its symptoms, with
// remediation on (a dry run only describes the repair).
struct RepairOutlook {
    bool symptom = false;
    bool would_repair = false;
    std::string shown;  // the table's REPAIR column
};

RepairOutlook repair_outlook(const ProbeResult& result, const SiteConfig& site, const RemediationConfig& remediation) {
    RepairOutlook outlook;
    outlook.symptom = site.symptoms.count(result.probe_class) > 0;
    outlook.would_repair = outlook.symptom && remediation.enabled && !remediation.dry_run;
    if (!outlook.symptom) {
        outlook.shown = "no";
    } else if (!remediation.enabled) {
        outlook.shown = "no: disabled";
    } else if (remediation.dry_run) {
        outlook.shown = "no: dry run";
    } else {
        outlook.shown = "yes";
    }
    return outlook;
}

void print_probe_table(const std::vector<ProbeResult>& results, const std::vector<RepairOutlook>& outlooks) {
    std::size_t name_width = 4;
    std::size_t class_width = 5;
    for (const auto& result : results) {
        name_width = std::max(name_width, result.site.size());
        class_width = std::max(class_width, to_string(result.probe_class).size());
    }
    const int site_column = static_cast<int>(name_width) + 2;
    const int class_column = static_cast<int>(class_width) + 2;
    std::cout << std::left << std::setw(site_column) << "SITE" << std::setw(class_column) << "CLASS" << std::setw(14)
              << "REPAIR" << std::setw(8) << "STATUS" << std::setw(22) << "TLS ALERT" << std::setw(10) << "TOTAL ms"
              << "DETAIL\n";
    for (std::size_t index = 0; index < results.size(); ++index) {
        const auto& result = results[index];
        std::string status = optional_text(result.status);
        if (result.status && result.iis_substatus) status += "." + std::to_string(*result.iis_substatus);
        std::cout << std::left << std::setw(site_column) << result.site << std::setw(class_column)
                  << to_string(result.probe_class) << std::setw(14) << outlooks[index].shown << std::setw(8) << status
                  << std::setw(22) << result.tls_alert.value_or("-") << std::setw(10) << fixed(result.timings.total_ms)
                  << result.error.value_or(result.probe_class == ProbeClass::healthy ? "ok" : "-") << '\n';
    }
}

int command_check_config(const Options& options, const Clock& clock) {
    auto config = load_config_or_report(options);
    if (!config) return usage;
    // What `run` refuses at start, check-config refuses too: one list of start checks.
    const auto problems = start_problems(config_path_of(options), *config);
    // Each names the file or folder it is about: not a JSON pointer, nothing in the JSON is wrong.
    for (const auto& problem : problems) std::cerr << problem.sentence << '\n';
    if (!problems.empty()) {
        std::cerr << "certheal run would refuse to start with this configuration.\n";
        return usage;
    }
    const auto& stages = config->remediation.stages;
    std::size_t stage_steps = 0;
    for (const auto& stage : stages) stage_steps += stage.steps.size();
    std::cout << config_path_of(options).string() << " is valid: " << config->sites.size() << " site(s), "
              << (stages.empty() ? std::to_string(config->remediation.steps.size()) + " repair step(s)"
                                 : std::to_string(stages.size()) + " repair stage(s) with " +
                                       std::to_string(stage_steps) + " step(s)")
              << ", remediation "
              << (config->remediation.enabled ? (config->remediation.dry_run ? "enabled (dry run)" : "enabled")
                                              : "disabled")
              << ".\n";
    // The host as it is now: a valid config may still meet an expired certificate or a trust
    // that is already out of sync. Said, never fatal.
    const auto stores = platform::make_certificate_stores();
    const auto identities = platform::make_client_identities();
    for (const auto& finding : preflight(*config, *stores, clock.wall_now(), identities.get())) {
        std::cout << "pre-flight: " << format_finding(finding) << '\n';
    }
    // Windows: what the host trust diagnosis finds now (certheal diagnose says more).
    if (const auto diagnosis = diagnose_now(config->sites, clock)) {
        for (const auto& finding : host_trust_findings(*config, *diagnosis)) {
            std::cout << "pre-flight: " << format_finding(finding) << '\n';
        }
    }
    return ok;
}

int command_probe(const Options& options, const Clock& clock) {
    // What validation decodes (certificates, keys), the prober reuses.
    auto material = std::make_shared<TlsMaterialCache>();
    auto config = load_config_or_report(options, material);
    if (!config) return usage;
    std::vector<const SiteConfig*> selected;
    for (const auto& site : config->sites) {
        if (!options.site || site.name == *options.site) selected.push_back(&site);
    }
    if (selected.empty()) {
        report_unknown_site(options, *config);
        return usage;
    }
    boost::asio::io_context io;
    const auto system_stores = platform::make_certificate_stores();
    const auto identities = platform::make_client_identities();
    ProberOptions prober_options;
    prober_options.max_in_flight = config->service.max_concurrent_probes;
    HttpsProber prober(io, prober_options, system_stores.get(), material, identities.get(), &clock);
    std::vector<ProbeResult> results(selected.size());
    for (std::size_t index = 0; index < selected.size(); ++index) {
        prober.probe(*selected[index], [&results, index](ProbeResult result) { results[index] = std::move(result); });
    }
    io.run();
    bool all_healthy = true;
    std::vector<RepairOutlook> outlooks;
    for (std::size_t index = 0; index < results.size(); ++index) {
        all_healthy = all_healthy && results[index].probe_class == ProbeClass::healthy;
        outlooks.push_back(repair_outlook(results[index], *selected[index], config->remediation));
    }
    // Windows: the host trust diagnosis of the sites that were not healthy, so that a 403.16
    // comes with its cause.
    std::optional<HostDiagnosis> diagnosis;
    if (!all_healthy && platform::make_host_trust_inspector()->available()) {
        std::vector<SiteConfig> unhealthy_sites;
        for (std::size_t index = 0; index < selected.size(); ++index) {
            if (results[index].probe_class != ProbeClass::healthy) unhealthy_sites.push_back(*selected[index]);
        }
        diagnosis = diagnose_now(unhealthy_sites, clock);
    }
    if (options.json) {
        for (std::size_t index = 0; index < results.size(); ++index) {
            auto line = probe_evidence(results[index], /*with_site=*/true);
            line["symptom"] = outlooks[index].symptom;
            line["would_repair"] = outlooks[index].would_repair;
            if (const SiteDiagnosis* site = diagnosis ? diagnosis->site(results[index].site) : nullptr) {
                line["cause"] = std::string(to_string(site->cause()));
            }
            std::cout << line.dump() << '\n';
        }
    } else {
        print_probe_table(results, outlooks);
        if (diagnosis) {
            for (const auto& site : diagnosis->sites) std::cout << "host trust: " << host_trust_line(site) << '\n';
        }
    }
    return all_healthy ? ok : unhealthy;
}

std::filesystem::path state_dir_of(const Options& options, bool& config_ok) {
    auto loaded = load_config(config_path_of(options), platform::config_context());
    config_ok = loaded.config.has_value();
    return loaded.config ? loaded.config->service.state_dir : platform::default_state_dir();
}

std::string string_field(const nlohmann::json& record, const char* key) {
    const auto found = record.find(key);
    return found != record.end() && found->is_string() ? found->get<std::string>() : std::string();
}

// --site NAME: the site's own events, those naming it among several ("sites": [...]: a repair
// by hand), and the events of its incidents that name no site (the repair's steps, the
// circuit opening), which follow the site's own in the journal.
class SiteFilter {
public:
    explicit SiteFilter(std::string site) : site_(std::move(site)) {}

    bool concerns(const nlohmann::json& record) {
        const std::string incident = string_field(record, "incident");
        if (names_site(record)) {
            remember(incident);
            return true;
        }
        return !incident.empty() && incidents_.count(incident) > 0;
    }

private:
    bool names_site(const nlohmann::json& record) const {
        if (string_field(record, "site") == site_) return true;
        const auto sites = record.find("sites");
        if (sites == record.end() || !sites->is_array()) return false;
        return std::any_of(sites->begin(), sites->end(), [this](const nlohmann::json& name) {
            return name.is_string() && name.get<std::string>() == site_;
        });
    }
    // The latest incidents only: an incident's events lie close together, and the set stays
    // small however long the journal.
    void remember(const std::string& incident) {
        if (incident.empty() || incidents_.count(incident) > 0) return;
        incidents_.insert(incident);
        order_.push_back(incident);
        if (order_.size() > kRemembered) {
            incidents_.erase(order_.front());
            order_.pop_front();
        }
    }
    static constexpr std::size_t kRemembered = 256;
    std::string site_;
    std::set<std::string> incidents_;
    std::deque<std::string> order_;
};

int command_history(const Options& options, const Clock& clock) {
    std::optional<TimePoint> since;
    if (options.since) since = parse_since(*options.since, clock.wall_now());
    bool config_ok = false;
    const auto state_dir = state_dir_of(options, config_ok);
    if (!config_ok) {
        std::cerr << "certheal history: the configuration is not valid (run certheal check-config); reading the "
                     "journal in "
                  << state_dir.string() << ".\n";
    }
    std::size_t shown = 0;
    std::optional<SiteFilter> site_filter;
    if (options.site) site_filter.emplace(*options.site);
    const auto show = [&options, &shown, &site_filter](nlohmann::json&& event) {
        if (site_filter && !site_filter->concerns(event)) return;
        if (options.incident && string_field(event, "incident") != *options.incident) return;
        ++shown;
        std::cout << (options.json ? event.dump() : format_event_line(event)) << '\n';
    };
    const auto say_warnings = [](const std::string& warnings) {
        if (!warnings.empty()) std::cerr << warnings << '\n';
    };

    // The rotated files oldest first, then the current one, a record at a time: memory stays
    // flat however large the journal someone hands us. The current one is read by the tail
    // that --follow goes on with, so nothing falls between the two.
    const auto current = journal_path(state_dir);
    for (const auto& file : journal_files(state_dir)) {
        if (file == current) continue;
        std::string warnings;
        visit_journal(file, since, show, &warnings);
        say_warnings(warnings);
    }
    JournalTail tail(state_dir);
    std::string warnings;
    tail.read_new(since, show, &warnings);
    say_warnings(warnings);
    std::cout.flush();

    if (!options.follow) {
        if (journal_files(state_dir).empty()) {
            std::cerr << "certheal history: no journal yet in " << state_dir.string() << ".\n";
        } else if (shown == 0 && (options.site || options.incident || options.since)) {
            std::cerr << "certheal history: no event in the journal matches.\n";
        }
        return ok;
    }

    std::error_code folder_error;
    if (!std::filesystem::is_directory(state_dir, folder_error)) {
        std::cerr << "certheal history --follow: the state folder " << state_dir.string()
                  << " does not exist; start certheal once (it creates it), or check service.state_dir.\n";
        return runtime_failure;
    }
    boost::asio::io_context io;
    int exit_code = ok;
    auto watch = platform::watch_journal_folder(io, state_dir, [&](const std::optional<std::string>& problem) {
        if (problem) {
            std::cerr << "certheal history --follow stopped: " << *problem << '\n';
            exit_code = runtime_failure;
            io.stop();
            return;
        }
        std::string more;
        tail.read_new(since, show, &more);
        say_warnings(more);
        std::cout.flush();
    });
    if (!watch) {
        std::cerr << "certheal history --follow: " << watch.error().message << ".\n";
        return runtime_failure;
    }
    // Ctrl+C (SIGINT) or SIGTERM ends the follow: the normal way out, so exit code 0.
    auto controls = platform::watch_console_controls(io, [&io](platform::ControlRequest request, const std::string&) {
        if (request == platform::ControlRequest::stop) io.stop();
    });
    // A change between the first read and the watch starting would otherwise wait for the next.
    tail.read_new(since, show, &warnings);
    std::cout.flush();
    io.run();
    return exit_code;
}

int command_install(const Options& options) {
    if (options.msi_postinstall) return platform::configure_service_after_msi();
    return platform::install_service(config_path_of(options));
}

}  // namespace

int dispatch(const Options& options) {
    if (options.version) {
        std::cout << "certheal " CERTHEAL_VERSION "\n";
        return ok;
    }
    if (options.help) {
        std::cout << (options.command.empty() ? usage_text() : command_help(options.command));
        return ok;
    }
    // The commands' clock: what they read as now (the daemon owns its own, on its io_context).
    boost::asio::io_context clock_io;
    const AsioClock clock(clock_io);
    try {
        if (options.command == "check-config") return command_check_config(options, clock);
        if (options.command == "probe") return command_probe(options, clock);
        if (options.command == "diagnose") return command_diagnose(options, clock);
        if (options.command == "history") return command_history(options, clock);
        if (options.command == "status") return command_status(options, clock);
        if (options.command == "repair") return command_repair(options);
        if (options.command == "resume") return command_resume(options);
        if (options.command == "pause") return command_pause(options);
        if (options.command == "unpause") return command_unpause(options);
        if (options.command == "run") {
            ConsoleHost host;
            return run_monitor(config_path_of(options), host);
        }
        if (options.command == "install") return command_install(options);
        if (options.command == "uninstall") return platform::uninstall_service();
    } catch (const std::exception& error) {
        std::cerr << "certheal " << options.command << " failed: " << error.what() << '\n';
        return runtime_failure;
    }
    std::cerr << usage_text();
    return usage;
}

}  // namespace certheal::cli
