#include "service/history_command.hpp"

#include <algorithm>
#include <deque>
#include <functional>
#include <iostream>
#include <set>

#include <boost/asio/io_context.hpp>

#include "config/config.hpp"
#include "core/record/journal.hpp"
#include "service/argument_parsing.hpp"
#include "service/command_support.hpp"
#include "service/exit_code.hpp"
#include "service/platform.hpp"

namespace certheal::cli {
namespace {

using ShowEvent = std::function<void(nlohmann::json&&)>;

std::filesystem::path state_dir_of(const Options& options, bool& config_ok) {
    auto loaded = load_config(config_path_of(options), platform::config_context());
    config_ok = loaded.config.has_value();
    return loaded.config ? loaded.config->service.state_dir : platform::default_state_dir();
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

void say_warnings(const std::string& warnings) {
    if (!warnings.empty()) std::cerr << warnings << '\n';
}

// The rotated files oldest first, then the current one, a record at a time: memory stays
// flat however large the journal someone hands us. The current one is read by the tail
// that --follow goes on with, so nothing falls between the two.
void show_journal_so_far(const std::filesystem::path& state_dir, std::optional<TimePoint> since, const ShowEvent& show,
                         JournalTail& tail) {
    const auto current = journal_path(state_dir);
    for (const auto& file : journal_files(state_dir)) {
        if (file == current) continue;
        std::string warnings;
        visit_journal(file, since, show, &warnings);
        say_warnings(warnings);
    }
    std::string warnings;
    tail.read_new(since, show, &warnings);
    say_warnings(warnings);
    std::cout.flush();
}

// --follow: new events as the journal changes, until Ctrl+C; the exit code.
int follow_journal(const std::filesystem::path& state_dir, std::optional<TimePoint> since, const ShowEvent& show,
                   JournalTail& tail) {
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
    std::string warnings;
    tail.read_new(since, show, &warnings);
    std::cout.flush();
    io.run();
    return exit_code;
}

}  // namespace

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
    const ShowEvent show = [&options, &shown, &site_filter](nlohmann::json&& event) {
        if (site_filter && !site_filter->concerns(event)) return;
        if (options.incident && string_field(event, "incident") != *options.incident) return;
        ++shown;
        std::cout << (options.json ? event.dump() : format_event_line(event)) << '\n';
    };

    JournalTail tail(state_dir);
    show_journal_so_far(state_dir, since, show, tail);
    if (options.follow) return follow_journal(state_dir, since, show, tail);
    if (journal_files(state_dir).empty()) {
        std::cerr << "certheal history: no journal yet in " << state_dir.string() << ".\n";
    } else if (shown == 0 && (options.site || options.incident || options.since)) {
        std::cerr << "certheal history: no event in the journal matches.\n";
    }
    return ok;
}

}  // namespace certheal::cli
