#include "service/cli.hpp"

#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include <boost/asio/io_context.hpp>

#include "config/config.hpp"
#include "core/probe/https_prober.hpp"
#include "core/record/journal.hpp"
#include "core/policy/monitor.hpp"
#include "core/repair/preflight.hpp"
#include "service/platform.hpp"
#include "service/operator_commands.hpp"
#include "service/run.hpp"

namespace certheal::cli {
namespace {

const std::map<std::string, std::string>& help_texts() {
    static const std::map<std::string, std::string> texts = {
        {"check-config",
         "usage: certheal check-config [--config FILE]\n\n"
         "Reads and validates the configuration. Every error is printed on stderr as\n"
         "'/json/pointer: message', warnings as 'warning: /json/pointer: message'.\n"
         "Exit code 0 when valid (warnings allowed), 2 when not.\n"},
        {"probe",
         "usage: certheal probe [--config FILE] [--site NAME] [--json]\n\n"
         "Probes every site (or one) once, concurrently, and prints a table, or with --json\n"
         "one JSON object per site per line. Changes nothing.\n"
         "Exit code 0 when every probed site is healthy, 1 when one is not, 2 bad usage or\n"
         "config, 3 runtime failure.\n"},
        {"run",
         "usage: certheal run [--config FILE] [--console]\n\n"
         "Runs the monitor: probes the sites on their interval, confirms symptoms and repairs\n"
         "them under the remediation policy, writing every event to the journal and the system\n"
         "log. Started by the Windows SCM it runs as a service; otherwise in the console, where\n"
         "events are echoed on stderr. SIGINT/SIGTERM (Ctrl+C) stop it cleanly after the current\n"
         "repair step; SIGHUP reloads the configuration (a bad one is reported and ignored).\n"},
        {"history",
         "usage: certheal history [--config FILE] [--since DURATION] [--json]\n\n"
         "Prints the journal (<state_dir>/journal.jsonl), optionally only the events of the last\n"
         "DURATION (e.g. 24h, 30m), as lines for people or with --json as the raw JSON lines.\n"},
        {"status",
         "usage: certheal status [--config FILE] [--json]\n\n"
         "Shows whether the certheal service (daemon) runs, and what it last wrote to\n"
         "<state_dir>/status.json: the repair policy (circuit breaker, attempts left in the\n"
         "window, cooldown, last repair and its outcome) and per site the class, since when,\n"
         "the open incident, the next probe and when the client and server certificates expire.\n"},
        {"repair",
         "usage: certheal repair [--config FILE] [--site NAME] [--dry-run] [--force]\n\n"
         "Runs the configured repair workflow now, in the foreground, printing each event as\n"
         "'run --console' does, and verifies the sites (all, or --site NAME). It takes the same\n"
         "host-wide repair lock as the service, so it never overlaps a repair of the service;\n"
         "its journal events carry \"manual\": true. It counts toward the repair budget but\n"
         "ignores the cooldown, and it is refused while a repair runs or while the circuit\n"
         "breaker is open or the budget is spent (--force repairs anyway). Ctrl+C stops it\n"
         "after the current step.\n"
         "Exit code 0 repaired and verified (or dry run), 1 the repair failed or the sites are\n"
         "still unhealthy, 2 bad usage or config, 3 refused or runtime failure.\n"},
        {"resume",
         "usage: certheal resume [--config FILE]\n\n"
         "Closes an open repair circuit breaker and clears the repair budget. When the service\n"
         "runs, it asks the service (Windows: SCM control 200, administrators only; Linux:\n"
         "SIGUSR1 to the pid in <state_dir>/certheal.pid); otherwise it changes the saved state\n"
         "under the repair lock. Either way the journal gets circuit_closed, reason operator.\n"},
        {"install",
         "usage: certheal install [--config FILE]\n\n"
         "Windows: registers certheal as an automatic (delayed start) service running as\n"
         "LocalSystem, with SCM recovery actions, the Event Log source and a protected\n"
         "%ProgramData%\\certheal folder. On Linux use installer/certheal.service.\n"},
        {"uninstall",
         "usage: certheal uninstall\n\n"
         "Windows: stops and removes the service and the Event Log source. The configuration\n"
         "and the journal stay in place.\n"},
    };
    return texts;
}

std::filesystem::path config_path_of(const Options& options) {
    return options.config ? *options.config : platform::default_config_path();
}

std::optional<Config> load_or_report(const Options& options, std::shared_ptr<TlsMaterialCache> material = nullptr) {
    auto context = platform::config_context();
    context.tls_material = std::move(material);
    auto loaded = load_config(config_path_of(options), context);
    for (const auto& issue : loaded.issues) {
        std::cerr << format_issue(issue) << '\n';
    }
    return std::move(loaded.config);
}

std::string optional_text(const std::optional<int>& value) { return value ? std::to_string(*value) : "-"; }

std::string fixed(double value) {
    std::ostringstream out;
    out << std::fixed << std::setprecision(1) << value;
    return out.str();
}

void print_probe_table(const std::vector<ProbeResult>& results) {
    std::size_t name_width = 4;
    for (const auto& result : results) name_width = std::max(name_width, result.site.size());
    std::size_t class_width = 20;  // client_cert_negotiation_unsupported is longer
    for (const auto& result : results) class_width = std::max(class_width, to_string(result.cls).size());
    const int class_column = static_cast<int>(class_width) + 2;
    std::cout << std::left << std::setw(static_cast<int>(name_width) + 2) << "SITE" << std::setw(class_column) << "CLASS"
              << std::setw(8) << "STATUS" << std::setw(22) << "TLS ALERT" << std::setw(10) << "TOTAL ms"
              << "DETAIL\n";
    for (const auto& result : results) {
        std::string status = optional_text(result.status);
        if (result.status && result.iis_substatus) status += "." + std::to_string(*result.iis_substatus);
        std::cout << std::left << std::setw(static_cast<int>(name_width) + 2) << result.site
                  << std::setw(class_column) << to_string(result.cls) << std::setw(8) << status << std::setw(22)
                  << result.tls_alert.value_or("-") << std::setw(10) << fixed(result.timings.total_ms)
                  << result.error.value_or(result.cls == ProbeClass::healthy ? "ok" : "-") << '\n';
    }
}

int command_check_config(const Options& options) {
    auto config = load_or_report(options);
    if (!config) return usage;
    std::cout << config_path_of(options).string() << " is valid: " << config->sites.size() << " site(s), "
              << config->remediation.steps.size() << " repair step(s), remediation "
              << (config->remediation.enabled ? (config->remediation.dry_run ? "enabled (dry run)" : "enabled")
                                              : "disabled")
              << ".\n";
    // The host as it is now: a valid config may still meet an expired certificate or a trust
    // that is already out of sync. Said, never fatal.
    const auto stores = platform::make_certificate_stores();
    for (const auto& finding : preflight(*config, *stores, std::chrono::system_clock::now())) {
        std::cout << "pre-flight: " << format_finding(finding) << '\n';
    }
    return ok;
}

int command_probe(const Options& options) {
    // What validation decodes (certificates, keys), the prober reuses.
    auto material = std::make_shared<TlsMaterialCache>();
    auto config = load_or_report(options, material);
    if (!config) return usage;
    std::vector<const SiteConfig*> selected;
    for (const auto& site : config->sites) {
        if (!options.site || site.name == *options.site) selected.push_back(&site);
    }
    if (selected.empty()) {
        std::cerr << "certheal probe: no site named '" << options.site.value_or("") << "' in "
                  << config_path_of(options).string() << ".\n";
        return usage;
    }
    boost::asio::io_context io;
    const auto system_stores = platform::make_certificate_stores();
    ProberOptions prober_options;
    prober_options.max_in_flight = config->service.max_concurrent_probes;
    HttpsProber prober(io, prober_options, system_stores.get(), material);
    std::vector<ProbeResult> results(selected.size());
    for (std::size_t index = 0; index < selected.size(); ++index) {
        prober.probe(*selected[index], [&results, index](ProbeResult result) { results[index] = std::move(result); });
    }
    io.run();
    bool all_healthy = true;
    for (const auto& result : results) all_healthy = all_healthy && result.cls == ProbeClass::healthy;
    if (options.json) {
        for (const auto& result : results) std::cout << probe_evidence(result, /*with_site=*/true).dump() << '\n';
    } else {
        print_probe_table(results);
    }
    return all_healthy ? ok : unhealthy;
}

std::filesystem::path state_dir_of(const Options& options, bool& config_ok) {
    auto loaded = load_config(config_path_of(options), platform::config_context());
    config_ok = loaded.config.has_value();
    return loaded.config ? loaded.config->service.state_dir : platform::default_state_dir();
}

int command_history(const Options& options) {
    std::optional<TimePoint> since;
    if (options.since) {
        auto window = parse_duration(*options.since);
        if (!window) {
            std::cerr << "certheal history: --since wants a duration such as 24h or 30m, got '" << *options.since
                      << "'.\n";
            return usage;
        }
        since = std::chrono::system_clock::now() - *window;
    }
    bool config_ok = false;
    const auto state_dir = state_dir_of(options, config_ok);
    if (!config_ok) {
        std::cerr << "certheal history: the configuration is not valid (run certheal check-config); reading the "
                     "journal in "
                  << state_dir.string() << ".\n";
    }
    // The rotated files oldest first, then the current one, a record at a time: memory stays
    // flat however large the journal someone hands us.
    const auto files = journal_files(state_dir);
    if (files.empty()) {
        std::cerr << "certheal history: no journal yet in " << state_dir.string() << ".\n";
        return ok;
    }
    for (const auto& file : files) {
        std::string warnings;
        visit_journal(file, since, [&options](nlohmann::json&& event) {
            std::cout << (options.json ? event.dump() : format_event_line(event)) << '\n';
        }, &warnings);
        if (!warnings.empty()) std::cerr << warnings << '\n';
    }
    return ok;
}

}  // namespace

std::string usage_text() {
    return "usage: certheal <command> [options]\n\n"
           "commands:\n"
           "  check-config [--config FILE]                  validate the configuration\n"
           "  probe        [--config FILE] [--site NAME] [--json]   probe the sites once\n"
           "  run          [--config FILE] [--console]      run the monitor\n"
           "  history      [--config FILE] [--since DURATION] [--json]   show the journal\n"
           "  status       [--config FILE] [--json]         show the service, its policy and sites\n"
           "  repair       [--config FILE] [--site NAME] [--dry-run] [--force]   repair now, by hand\n"
           "  resume       [--config FILE]                  close the circuit breaker, clear the budget\n"
           "  install      [--config FILE]                  register the Windows service\n"
           "  uninstall                                     remove the Windows service\n"
           "  --version | --help\n\n"
           "The default configuration is " +
           platform::default_config_path().string() +
           ".\nExit codes: 0 ok, 1 a site is unhealthy, 2 bad usage or invalid config, 3 runtime failure.\n"
           "'certheal <command> --help' describes one command.\n";
}

std::string command_help(const std::string& command) {
    const auto found = help_texts().find(command);
    return found != help_texts().end() ? found->second : usage_text();
}

ParseOutcome parse_arguments(const std::vector<std::string>& args) {
    Options options;
    std::size_t index = 0;
    auto fail = [](std::string message) { return ParseOutcome{std::nullopt, std::move(message)}; };
    if (args.empty()) return fail("certheal: a command is required.");
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        options.help = true;
        return {options, ""};
    }
    if (args[0] == "--version") {
        options.version = true;
        return {options, ""};
    }
    options.command = args[index++];
    if (help_texts().count(options.command) == 0) {
        return fail("certheal: unknown command '" + options.command + "'.");
    }
    const std::map<std::string, std::vector<std::string>> allowed = {
        {"check-config", {"--config"}},
        {"probe", {"--config", "--site", "--json"}},
        {"run", {"--config", "--console"}},
        {"history", {"--config", "--since", "--json"}},
        {"status", {"--config", "--json"}},
        {"repair", {"--config", "--site", "--dry-run", "--force"}},
        {"resume", {"--config"}},
        {"install", {"--config"}},
        {"uninstall", {}},
    };
    const auto& flags = allowed.at(options.command);
    for (; index < args.size(); ++index) {
        const std::string& arg = args[index];
        if (arg == "--help" || arg == "-h") {
            options.help = true;
            continue;
        }
        if (std::find(flags.begin(), flags.end(), arg) == flags.end()) {
            return fail("certheal " + options.command + ": unknown option '" + arg + "'.");
        }
        auto value = [&]() -> std::optional<std::string> {
            if (index + 1 >= args.size()) return std::nullopt;
            return args[++index];
        };
        if (arg == "--json") {
            options.json = true;
        } else if (arg == "--console") {
            options.console = true;
        } else if (arg == "--dry-run") {
            options.dry_run = true;
        } else if (arg == "--force") {
            options.force = true;
        } else {
            auto text = value();
            if (!text) return fail("certheal " + options.command + ": " + arg + " needs a value.");
            if (arg == "--config") options.config = *text;
            if (arg == "--site") options.site = *text;
            if (arg == "--since") options.since = *text;
        }
    }
    return {options, ""};
}

int dispatch(const Options& options) {
    if (options.version) {
        std::cout << "certheal " CERTHEAL_VERSION "\n";
        return ok;
    }
    if (options.help) {
        std::cout << (options.command.empty() ? usage_text() : command_help(options.command));
        return ok;
    }
    try {
        if (options.command == "check-config") return command_check_config(options);
        if (options.command == "probe") return command_probe(options);
        if (options.command == "history") return command_history(options);
        if (options.command == "status") return command_status(options);
        if (options.command == "repair") return command_repair(options);
        if (options.command == "resume") return command_resume(options);
        if (options.command == "run") {
            ConsoleHost host;
            return run_monitor(config_path_of(options), host);
        }
        if (options.command == "install") return platform::install_service(config_path_of(options));
        if (options.command == "uninstall") return platform::uninstall_service();
    } catch (const std::exception& error) {
        std::cerr << "certheal " << options.command << " failed: " << error.what() << '\n';
        return runtime_failure;
    }
    std::cerr << usage_text();
    return usage;
}

}  // namespace certheal::cli
