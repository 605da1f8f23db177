#include "service/command_table.hpp"

namespace certheal::cli {
namespace {

constexpr FlagSpec kConfigFlag{"--config", "FILE", "the configuration file"};

// One command each, in the order `certheal --help` lists them.

CommandSpec check_config_spec() {
    return {"check-config",
            "check the configuration as run does before it starts",
            {kConfigFlag},
            "Reads and validates the configuration and applies every check that 'certheal run' applies "
            "before it starts (who may change the file, among others). Every error is printed on stderr as "
            "'/json/pointer: message' (a check of the file itself names the file instead), warnings as "
            "'warning: ...'; then what the host looks like now (pre-flight: certificates, trust), which "
            "never fails the check.\n"
            "Exit code 0 when valid (warnings allowed), 2 when not.\n"};
}

CommandSpec probe_spec() {
    return {"probe",
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
            "runtime failure.\n"};
}

CommandSpec diagnose_spec() {
    return {"diagnose",
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
            "host could not be read.\n"};
}

CommandSpec run_spec() {
    return {"run",
            "run the monitor (the service)",
            {kConfigFlag, {"--console", "", "run in the console even where a service manager could start it"}},
            "Runs the monitor: probes the sites on their interval, confirms symptoms and repairs them under "
            "the remediation policy, writing every event to the journal and the system log. Started by the "
            "Windows SCM it runs as a service; otherwise in the console, where events are echoed on stderr. "
            "SIGINT/SIGTERM (Ctrl+C) stop it cleanly after the current repair step; SIGHUP reloads the "
            "configuration (a bad one is reported and ignored).\n"};
}

CommandSpec history_spec() {
    return {"history",
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
            "rotation; Ctrl+C ends it with exit code 0.\n"};
}

CommandSpec status_spec() {
    return {"status",
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
            "cannot tell (the service does not run, or has not probed every site yet).\n"};
}

CommandSpec repair_spec() {
    return {"repair",
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
            "unhealthy, 2 bad usage or config, 3 refused or runtime failure.\n"};
}

CommandSpec resume_spec() {
    return {"resume",
            "close the circuit breaker, clear the repair budget",
            {kConfigFlag},
            "Closes an open repair circuit breaker and clears the repair budget. When the service runs, it "
            "asks the service (Windows: SCM control 200, administrators only; Linux: SIGUSR1 to the pid in "
            "<state_dir>/certheal.pid); otherwise it changes the saved state under the repair lock. Either "
            "way the journal gets circuit_closed, reason operator.\n"};
}

CommandSpec pause_spec() {
    return {"pause",
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
            "Exit code 0 paused, 2 bad usage or config, 3 the state could not be saved.\n"};
}

CommandSpec unpause_spec() {
    return {"unpause",
            "end a pause of repairs",
            {kConfigFlag, {"--site", "NAME", "end only this site's pause"}},
            "Ends the pause of repairs: every pause (the host's and each site's), or with --site only that "
            "site's. A confirmed symptom is repaired again from its next probe on. The journal gets "
            "unpaused with the user who asked (a pause that runs out says \"by itself\").\n"
            "Exit code 0 (also when nothing was paused), 2 bad usage or config, 3 the state could not be "
            "saved.\n"};
}

CommandSpec install_spec() {
    return {"install",
            "register the Windows service",
            {kConfigFlag,
             {"--msi-postinstall", "",
              "what the MSI cannot set: recovery actions, delayed start, who may control the service",
              /*hidden=*/true}},
            "Windows: registers certheal as an automatic (delayed start) service running as LocalSystem, "
            "with SCM recovery actions (restart after 1, 1 and 5 minutes), access rules that let only "
            "administrators control it, the Event Log source and a protected %ProgramData%\\certheal folder. "
            "The MSI does the same. On Linux use the systemd unit certheal.service.\n"};
}

CommandSpec uninstall_spec() {
    return {"uninstall",
            "remove the Windows service",
            {},
            "Windows: stops and removes the service and the Event Log source. The configuration and the "
            "journal stay in place.\n"};
}

}  // namespace

const std::vector<CommandSpec>& command_table() {
    static const std::vector<CommandSpec> table = {
        check_config_spec(),
        probe_spec(),
        diagnose_spec(),
        run_spec(),
        history_spec(),
        status_spec(),
        repair_spec(),
        resume_spec(),
        pause_spec(),
        unpause_spec(),
        install_spec(),
        uninstall_spec(),
    };
    return table;
}

const CommandSpec* find_command(std::string_view name) {
    for (const auto& command : command_table()) {
        if (command.name == name) return &command;
    }
    return nullptr;
}

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

}  // namespace certheal::cli
