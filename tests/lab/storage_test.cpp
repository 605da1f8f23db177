// certheal's state folder on a real, tiny tmpfs that fills up or turns read-only under a running
// `certheal run --console` (against the nginx lab), then recovers. Needs root (mount(2)); the
// tests say so with a warning and pass without checking anything when they may not mount.
//
// What they prove: storage_failed (1005) is said once for the journal and once for the repair
// history (state.json) per episode, storage_recovered (1006) follows once the folder is writable,
// the events kept in memory land in journal.jsonl in the order they happened, with no torn line
// at any time, and state.json is saved again (valid JSON) after the recovery.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "support/certheal_run.hpp"
#include "support/lab.hpp"
#include "support/wait.hpp"

using certheal::test::eventually;

namespace {

using namespace std::chrono_literals;
using certheal::test::CerthealRun;
using certheal::test::NginxLab;
namespace fs = std::filesystem;

constexpr const char* kTmpfsOptions = "size=64k,mode=0700";

// A tmpfs mounted on `dir` for the life of the object: unmounted in the destructor whatever
// happened (lazily, if something still holds it).
class SmallTmpfs {
public:
    explicit SmallTmpfs(fs::path dir) : dir_(std::move(dir)) {
        fs::create_directories(dir_);
        if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, kTmpfsOptions) == 0) {
            mounted_ = true;
        } else {
            error_ = std::strerror(errno);
        }
    }
    ~SmallTmpfs() {
        if (!mounted_) return;
        if (::umount2(dir_.c_str(), 0) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
    }
    SmallTmpfs(const SmallTmpfs&) = delete;
    SmallTmpfs& operator=(const SmallTmpfs&) = delete;

    bool mounted() const noexcept { return mounted_; }
    const std::string& error() const noexcept { return error_; }
    const fs::path& dir() const noexcept { return dir_; }

    // Remounts read-only or read-write. A read-only remount is refused (EBUSY) while a file is
    // open for writing; certheal holds the journal open only while it writes a record, so this
    // tries again for a while.
    bool remount(bool read_only) const {
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        const unsigned long flags = read_only ? (MS_REMOUNT | MS_RDONLY) : static_cast<unsigned long>(MS_REMOUNT);
        while (::mount("tmpfs", dir_.c_str(), "tmpfs", flags, kTmpfsOptions) != 0) {
            if (errno != EBUSY || std::chrono::steady_clock::now() >= deadline) return false;
            std::this_thread::sleep_for(10ms);
        }
        return true;
    }

private:
    fs::path dir_;
    bool mounted_ = false;
    std::string error_;
};

std::uintmax_t free_bytes(const fs::path& dir) {
    struct statvfs info {};
    REQUIRE(::statvfs(dir.c_str(), &info) == 0);
    return static_cast<std::uintmax_t>(info.f_bavail) * info.f_frsize;
}

// Writes `path` until the file system says ENOSPC: whole pages first, then single bytes for
// the last partial page. Returns how many bytes it holds.
std::uintmax_t fill_up(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    std::uintmax_t written = 0;
    const std::vector<char> page(4096, 'x');
    for (std::size_t chunk : {page.size(), std::size_t{1}}) {
        for (;;) {
            const auto result = ::write(fd, page.data(), chunk);
            if (result > 0) {
                written += static_cast<std::uintmax_t>(result);
                continue;
            }
            REQUIRE(errno == ENOSPC);
            break;
        }
    }
    ::close(fd);
    return written;
}

// One event line of ConsoleEcho: "<time>  <event>  [site  ][[incident]  ]<message>".
struct ConsoleEvent {
    std::string time;
    std::string event;
    std::string line;
    // The journal's own storage events, which go past the journal (system log and console only).
    bool about_journal() const {
        return (event == "storage_failed" || event == "storage_recovered") &&
               (line.find("could not write its journal") != std::string::npos ||
                line.find("writes its journal") != std::string::npos);
    }
    bool about_state() const {
        return (event == "storage_failed" || event == "storage_recovered") &&
               line.find("repair history") != std::string::npos;
    }
};

std::vector<ConsoleEvent> console_events(const CerthealRun& run) {
    static const std::regex event_line(R"(^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)  ([a-z_]+)(  .*)?$)");
    std::ifstream in(run.stderr_path());
    std::vector<ConsoleEvent> events;
    std::string line;
    std::smatch match;
    while (std::getline(in, line)) {
        if (std::regex_match(line, match, event_line)) events.push_back({match[1], match[2], line});
    }
    return events;
}

std::size_t count_console(const std::vector<ConsoleEvent>& events, const std::string& name,
                          bool (ConsoleEvent::*about)() const) {
    std::size_t found = 0;
    for (const auto& event : events) found += event.event == name && (event.*about)();
    return found;
}

bool has_console(const std::vector<ConsoleEvent>& events, const std::string& name) {
    for (const auto& event : events) {
        if (event.event == name) return true;
    }
    return false;
}

// The journal's raw bytes, every line of it checked: a JSON object, and the file ends with a
// line break (nothing half written). Returns the records.
std::vector<nlohmann::json> whole_lines(const fs::path& journal) {
    std::ifstream in(journal, std::ios::binary);
    REQUIRE(in);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<nlohmann::json> records;
    if (text.empty()) return records;
    CHECK(text.back() == '\n');
    std::istringstream lines(text);
    std::string line;
    std::size_t number = 0;
    while (std::getline(lines, line)) {
        ++number;
        INFO("journal line " << number << ": " << line);
        const auto parsed = nlohmann::json::parse(line, nullptr, false);
        CHECK(parsed.is_object());
        if (parsed.is_object()) records.push_back(parsed);
    }
    return records;
}

std::string write_config(const NginxLab& lab, const fs::path& state_dir, std::uint16_t status_port) {
    std::ostringstream json;
    json << R"({
  "service": { "state_dir": ")" << state_dir.string() << R"(", "status_listen": "127.0.0.1:)" << status_port << R"(" },
  "defaults": { "interval": "200ms", "timeout": "3s", "failure_threshold": 2, "success_threshold": 1 },
  "sites": [ {
      "name": "intranet",
      "url": ")" << lab.value("url") << R"(",
      "connect_to": "127.0.0.1",
      "tls": { "ca_file": ")" << lab.value("server_ca") << R"(",
               "client_cert": { "cert_file": ")" << lab.value("client_cert") << R"(", "key_file": ")"
         << lab.value("client_key") << R"(" } } } ],
  "remediation": {
    "enabled": true, "cooldown": "1m", "max_attempts": 3, "attempt_window": "1h", "circuit_reset_after": "6h",
    "steps": [
      { "run": [")" << certheal::test::lab_script().string() << R"(", "resync", ")" << lab.dir().string()
         << R"("], "timeout": "30s" },
      { "verify": { "attempts": 3, "delay": "200ms" }, "timeout": "30s" } ] } })";
    const auto path = lab.dir() / "certheal.json";
    std::ofstream(path) << json.str();
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                              fs::perms::others_read);
    return path.string();
}

// The story both tests tell: certheal runs with its state folder on `tmpfs`; `break_storage`
// makes the folder unwritable, the lab's trust is desynchronised (so certheal writes events and
// saves its repair history: symptom, repair, recovery), `heal_storage` makes the folder
// writable again. Without the right to mount it WARNs and checks nothing.
void storage_story(const std::function<void(SmallTmpfs&)>& break_storage,
                   const std::function<void(SmallTmpfs&)>& heal_storage) {
    NginxLab lab;
    SmallTmpfs tmpfs(lab.dir() / "state");  // unmounted after certheal is gone (declared before it)
    if (!tmpfs.mounted()) {
        WARN("SKIPPED: cannot mount a tmpfs on " << tmpfs.dir().string() << " (" << tmpfs.error()
                                                 << "); this test needs root (CAP_SYS_ADMIN)");
        return;
    }
    const auto journal = tmpfs.dir() / "journal.jsonl";
    const auto state = tmpfs.dir() / "state.json";
    const auto status_port = certheal::test::closed_port();
    const auto config = write_config(lab, tmpfs.dir(), status_port);

    CerthealRun run(config, tmpfs.dir().string());
    REQUIRE(run.wait_for("service_started", 20s));

    break_storage(tmpfs);
    lab.desync();

    // The whole incident happens while nothing can be saved: storage_failed for the journal (the
    // first record that did not fit) and for the repair history (the repair's attempt).
    const auto incident_told = [&] {
        const auto events = console_events(run);
        return has_console(events, "site_recovered") &&
               count_console(events, "storage_failed", &ConsoleEvent::about_journal) > 0 &&
               count_console(events, "storage_failed", &ConsoleEvent::about_state) > 0;
    };
    {
        const bool told = eventually(incident_told, 60s);
        INFO("console:\n" << std::ifstream(run.stderr_path()).rdbuf());
        REQUIRE(told);
    }
    // A few more probe rounds (200 ms each) with the folder still unwritable: every probe tries
    // the repair history again, and none of those tries may say storage_failed again.
    REQUIRE(certheal::test::wait_for_probe_rounds(status_port, "intranet", 5, 20s));
    {
        const auto events = console_events(run);
        CHECK(count_console(events, "storage_failed", &ConsoleEvent::about_journal) == 1);
        CHECK(count_console(events, "storage_failed", &ConsoleEvent::about_state) == 1);
        CHECK_FALSE(has_console(events, "storage_recovered"));
        // What did reach the journal is whole lines only; the incident waits in memory.
        const auto written = whole_lines(journal);
        CHECK(std::none_of(written.begin(), written.end(),
                           [](const auto& record) { return record.value("event", "") == "site_recovered"; }));
        CHECK_FALSE(fs::exists(state));
    }

    heal_storage(tmpfs);

    // The next probe saves the repair history again; that event writes the journal's queue.
    {
        const bool recovered = eventually(
            [&] {
                const auto events = console_events(run);
                return count_console(events, "storage_recovered", &ConsoleEvent::about_journal) > 0 &&
                       count_console(events, "storage_recovered", &ConsoleEvent::about_state) > 0 &&
                       run.count("storage_recovered") > 0;
            },
            20s);
        INFO("console:\n" << std::ifstream(run.stderr_path()).rdbuf());
        REQUIRE(recovered);
    }
    CHECK(run.stop() == 0);

    const auto console = console_events(run);
    std::string console_text;
    for (const auto& event : console) console_text += event.line + "\n";
    INFO("console:\n" << console_text);
    CHECK(count_console(console, "storage_failed", &ConsoleEvent::about_journal) == 1);
    CHECK(count_console(console, "storage_failed", &ConsoleEvent::about_state) == 1);
    CHECK(count_console(console, "storage_recovered", &ConsoleEvent::about_journal) == 1);
    CHECK(count_console(console, "storage_recovered", &ConsoleEvent::about_state) == 1);

    // Every event certheal emitted is in the journal, once, in the order it happened (the
    // journal's own storage events are the system log's and the console's only).
    const auto records = whole_lines(journal);
    std::vector<std::string> in_journal, emitted;
    for (const auto& record : records) {
        in_journal.push_back(record.value("time", "") + " " + record.value("event", ""));
    }
    for (const auto& event : console) {
        if (!event.about_journal()) emitted.push_back(event.time + " " + event.event);
    }
    CHECK(in_journal == emitted);
    REQUIRE_FALSE(records.empty());
    CHECK(records.front().value("event", "") == "service_started");
    CHECK(records.back().value("event", "") == "service_stopped");
    // Said once per episode for each file that is not the journal: the repair history and the
    // live status file (status.json, in the same folder).
    std::map<std::string, std::size_t> failed, recovered;
    for (const auto& record : records) {
        const auto event = record.value("event", "");
        if (event == "storage_failed" || event == "storage_recovered") {
            CHECK(record.value("id", 0) == (event == "storage_failed" ? 1005 : 1006));
            (event == "storage_failed" ? failed : recovered)[record.value("what", "")] += 1;
        }
    }
    CHECK(failed == std::map<std::string, std::size_t>{{"state", 1}, {"status file", 1}});
    CHECK(recovered["state"] == 1);
    CHECK(recovered["status file"] <= 1);  // its next write may come after the test stopped certheal
    CHECK(recovered.size() <= 2);

    // The repair history was saved again once it could be: the attempt and its end.
    REQUIRE(fs::exists(state));
    std::ifstream state_file(state);
    const auto saved = nlohmann::json::parse(state_file, nullptr, false);
    INFO("state.json: " << saved.dump());
    REQUIRE(saved.is_object());
    CHECK(saved.value("attempts", nlohmann::json::array()).size() == 1);
    CHECK(saved.value("last_repair_end", nlohmann::json()).is_string());
    CHECK_FALSE(fs::exists(tmpfs.dir() / "state.json.tmp"));
}

}  // namespace

TEST_CASE("certheal run says once that its full state folder cannot be written, then writes what it kept",
          "[storage][lab]") {
    storage_story(
        [](SmallTmpfs& tmpfs) {
            const auto filled = fill_up(tmpfs.dir() / "filler");
            INFO("filler: " << filled << " bytes");
            REQUIRE(free_bytes(tmpfs.dir()) == 0);
        },
        [](SmallTmpfs& tmpfs) {
            fs::remove(tmpfs.dir() / "filler");
            REQUIRE(free_bytes(tmpfs.dir()) > 0);
        });
}

TEST_CASE("certheal run says once that its read-only state folder cannot be written, then writes what it kept",
          "[storage][lab]") {
    storage_story([](SmallTmpfs& tmpfs) { REQUIRE(tmpfs.remount(true)); },
                  [](SmallTmpfs& tmpfs) { REQUIRE(tmpfs.remount(false)); });
}
