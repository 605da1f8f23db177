#include "service/cli.hpp"

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <boost/asio/io_context.hpp>

#include "config/config.hpp"
#include "core/base/text.hpp"
#include "core/probe/https_prober.hpp"
#include "core/record/journal.hpp"
#include "core/repair/preflight.hpp"
#include "core/runtime/asio_runtime.hpp"
#include "service/command_support.hpp"
#include "service/diagnose_command.hpp"
#include "service/history_command.hpp"
#include "service/platform.hpp"
#include "service/operator_commands.hpp"
#include "service/run.hpp"
#include "service/start_checks.hpp"

namespace certheal::cli {
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
