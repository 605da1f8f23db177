// The real certheal binary, run as root, against what another account (or a killed run) left in
// its state folder and textfile folder: symbolic links at every name it writes, FIFOs and
// devices, folders owned by another user or writable by others, leftover temporaries, a second
// `run`, stale and zombie pid files, and a repair lock that cannot be made. The site is a closed
// loopback port (connect_failed, a default symptom), so no web server is needed.
//
// Needs root (chown, mknod, chattr); without it each test says so and checks nothing.

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/record/journal.hpp"
#include "support/certheal_run.hpp"
#include "support/files.hpp"
#include "support/lab.hpp"
#include "support/wait.hpp"

using certheal::test::eventually;
using certheal::test::read_text;

namespace {

using namespace std::chrono_literals;
using certheal::test::CerthealRun;
using certheal::test::TempDir;
namespace fs = std::filesystem;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

bool running_as_root() {
    if (::geteuid() == 0) return true;
    WARN("not root: the hostile-file lab tests need root (chown, mknod) and check nothing");
    return false;
}

struct Finished {
    int exit_code = -1;
    std::string out;  // stdout and stderr together
};

// `certheal <args>` to its end (at most `limit`: `timeout` ends a command that should have
// been refused but runs), with its exit code and everything it printed.
Finished run_certheal(const std::string& args, const fs::path& scratch, int limit_seconds = 60) {
    const auto output = scratch / "command.out";
    const std::string command = "timeout -s KILL " + std::to_string(limit_seconds) + " " +
                                certheal::test::certheal_binary() + " " + args + " >" + output.string() + " 2>&1";
    const int status = std::system(command.c_str());
    Finished finished;
    finished.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    finished.out = read_text(output);
    return finished;
}

bool is_link(const fs::path& path) {
    struct stat info {};
    return ::lstat(path.c_str(), &info) == 0 && S_ISLNK(info.st_mode);
}
bool is_regular(const fs::path& path) {
    struct stat info {};
    return ::lstat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

// A folder and config for `certheal run`: one site on a closed port, probed every 300 ms.
struct HostileLab {
    TempDir dir;
    fs::path state = dir.path() / "state";
    fs::path textfiles = dir.path() / "textfiles";
    fs::path victims = dir.path() / "victims";
    fs::path config = dir.path() / "certheal.json";
    std::uint16_t port = certheal::test::closed_port();

    HostileLab() {
        fs::create_directories(state);
        fs::create_directories(textfiles);
        fs::create_directories(victims);
        write_config(/*remediation=*/false);
    }

    void write_config(bool remediation, const fs::path& state_dir = {}, const fs::path& textfile_dir = {}) const {
        std::ostringstream json;
        json << R"({
  "service": { "state_dir": ")" << (state_dir.empty() ? state : state_dir).string() << R"(", "textfile_dir": ")"
             << (textfile_dir.empty() ? textfiles : textfile_dir).string() << R"(" },
  "defaults": { "interval": "300ms", "timeout": "1s", "failure_threshold": 1, "success_threshold": 1 },
  "sites": [ { "name": "closed", "url": "https://127.0.0.1:)" << port << R"(/" } ],
  "remediation": {
    "enabled": )" << (remediation ? "true" : "false") << R"(, "cooldown": "1h", "max_attempts": 3,
    "attempt_window": "1h", "circuit_reset_after": "6h",
    "steps": [ { "run": ["/bin/true"], "timeout": "10s" } ] } })";
        std::ofstream(config) << json.str();
        ::chmod(config.c_str(), 0644);
    }

    std::string args(const std::string& command) const { return command + " --config " + config.string(); }

    // A file outside the state folder that root must never change.
    fs::path victim(const std::string& name) const {
        const auto path = victims / name;
        std::ofstream(path) << "precious " << name << "\n";
        return path;
    }
    static bool untouched(const fs::path& victim) {
        return read_text(victim) == "precious " + victim.filename().string() + "\n";
    }

    std::string console(const CerthealRun& run) const { return read_text(run.stdout_path()) + read_text(run.stderr_path()); }

    std::vector<nlohmann::json> events(const std::string& name) const {
        std::vector<nlohmann::json> found;
        for (const auto& record : certheal::read_journal(state / "journal.jsonl", std::nullopt, nullptr)) {
            if (record.value("event", "") == name) found.push_back(record);
        }
        return found;
    }
};

// chattr +i on a folder for the life of the object (and -i whatever happened).
class Immutable {
public:
    explicit Immutable(fs::path folder) : folder_(std::move(folder)) {
        ok_ = std::system(("chattr +i " + folder_.string() + " 2>/dev/null").c_str()) == 0;
    }
    ~Immutable() {
        if (ok_) (void)std::system(("chattr -i " + folder_.string()).c_str());
    }
    Immutable(const Immutable&) = delete;
    Immutable& operator=(const Immutable&) = delete;
    bool ok() const noexcept { return ok_; }

private:
    fs::path folder_;
    bool ok_ = false;
};

}  // namespace

// --- FIFOs and devices never block ----------------------------------------------------------

TEST_CASE("a FIFO at certheal.prom.tmp blocks neither probing nor SIGTERM", "[lab][root_files]") {
    if (!running_as_root()) return;
    HostileLab lab;
    REQUIRE(::mkfifo((lab.textfiles / "certheal.prom.tmp").c_str(), 0666) == 0);
    CerthealRun run(lab.config.string(), lab.state.string());
    // status.json is written first, the metrics textfile right after it on the same thread.
    REQUIRE(eventually([&] { return is_regular(lab.state / "status.json"); }, 20s));
    // Past the FIFO: the textfile is written (checked below, after the stop).
    (void)eventually([&] { return read_text(lab.textfiles / "certheal.prom").find("certheal_up") != std::string::npos; },
                     20s);
    CHECK(run.stop() == 0);  // SIGTERM ends it: the thread that serves it was never stuck
    INFO(lab.console(run));
    CHECK(lab.events("service_stopped").size() == 1);
    CHECK_THAT(read_text(lab.textfiles / "certheal.prom"), Catch::Contains("certheal_up"));
}

TEST_CASE("a FIFO at the journal's name is refused at once, and certheal runs and stops", "[lab][root_files]") {
    if (!running_as_root()) return;
    HostileLab lab;
    REQUIRE(::mkfifo((lab.state / "journal.jsonl").c_str(), 0666) == 0);
    CerthealRun run(lab.config.string(), lab.state.string());
    REQUIRE(eventually([&] { return is_regular(lab.state / "status.json"); }, 20s));
    CHECK(run.stop() == 0);
    const auto console = lab.console(run);
    INFO(console);
    CHECK_THAT(console, Catch::Contains("storage_failed") && Catch::Contains("FIFO"));
    struct stat info {};
    REQUIRE(::lstat((lab.state / "journal.jsonl").c_str(), &info) == 0);
    CHECK(S_ISFIFO(info.st_mode));  // left as it was: certheal says so, an admin removes it
}

TEST_CASE("a device at the journal's name and at certheal.prom.tmp is never written", "[lab][root_files]") {
    if (!running_as_root()) return;
    HostileLab lab;
    // The null device's numbers: whatever is written there is lost without a word.
    REQUIRE(::mknod((lab.state / "journal.jsonl").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
    REQUIRE(::mknod((lab.textfiles / "certheal.prom.tmp").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
    CerthealRun run(lab.config.string(), lab.state.string());
    REQUIRE(eventually([&] { return is_regular(lab.textfiles / "certheal.prom"); }, 20s));
    CHECK(run.stop() == 0);
    const auto console = lab.console(run);
    INFO(console);
    CHECK_THAT(console, Catch::Contains("storage_failed") && Catch::Contains("character device"));
    CHECK_THAT(read_text(lab.textfiles / "certheal.prom"), Catch::Contains("certheal_up"));
}

TEST_CASE("certheal history skips a FIFO at the journal's name instead of waiting on it", "[lab][root_files]") {
    if (!running_as_root()) return;
    HostileLab lab;
    REQUIRE(::mkfifo((lab.state / "journal.jsonl").c_str(), 0666) == 0);
    std::ofstream(lab.state / "journal.1.jsonl")
        << R"({"time":"2026-11-01T00:00:00.000Z","id":1000,"event":"service_started","message":"m"})" << "\n";
    const auto shown = run_certheal(lab.args("history --json"), lab.dir.path(), 20);
    INFO(shown.out);
    CHECK(shown.exit_code == 0);
    CHECK_THAT(shown.out, Catch::Contains("service_started"));
}

// --- links are never followed ---------------------------------------------------------------

TEST_CASE("symbolic links at every name certheal writes leave their targets untouched", "[lab][root_files]") {
    if (!running_as_root()) return;
    HostileLab lab;
    lab.write_config(/*remediation=*/true);  // a repair saves state.json
    const std::pair<fs::path, std::string> links[] = {
        {lab.state / "journal.jsonl", "journal"},         {lab.state / "state.json", "state"},
        {lab.state / "state.json.tmp", "state-tmp"},      {lab.state / "status.json", "status"},
        {lab.state / "status.json.tmp", "status-tmp"},    {lab.state / "certheal.pid.tmp", "pid-tmp"},
        {lab.textfiles / "certheal.prom", "prom"},        {lab.textfiles / "certheal.prom.tmp", "prom-tmp"},
    };
    std::vector<fs::path> victims;
    for (const auto& [link, name] : links) {
        victims.push_back(lab.victim(name));
        fs::create_symlink(victims.back(), link);
    }
    {
        CerthealRun run(lab.config.string(), lab.state.string());
        REQUIRE(eventually([&] { return lab.console(run).find("repair_started") != std::string::npos; }, 20s));
        REQUIRE(eventually([&] { return is_regular(lab.state / "state.json"); }, 10s));
        REQUIRE(eventually([&] { return is_regular(lab.textfiles / "certheal.prom"); }, 10s));
        CHECK(run.stop() == 0);
        INFO(lab.console(run));
        CHECK_THAT(lab.console(run), Catch::Contains("symbolic link"));  // the journal's refusal
    }
    for (const auto& victim : victims) {
        INFO(victim);
        CHECK(HostileLab::untouched(victim));
    }
    CHECK(is_regular(lab.state / "status.json"));
    CHECK(is_link(lab.state / "journal.jsonl"));  // refused, not replaced: an admin decides
    CHECK_THAT(read_text(lab.state / "state.json"), Catch::Contains("attempts"));
}

TEST_CASE("certheal run refuses a link at its pid file and leaves the target alone", "[lab][root_files]") {
    if (!running_as_root()) return;
    HostileLab lab;
    const auto victim = lab.victim("pid");
    fs::create_symlink(victim, lab.state / "certheal.pid");
    const auto refused = run_certheal(lab.args("run --console"), lab.dir.path(), 20);
    INFO(refused.out);
    CHECK(refused.exit_code == 3);
    CHECK_THAT(refused.out, Catch::Contains("pid file") && Catch::Contains("symbolic link"));
    CHECK(HostileLab::untouched(victim));
    CHECK(is_link(lab.state / "certheal.pid"));
}

// --- folders another account could change ---------------------------------------------------

TEST_CASE("a state folder owned by another user is refused by run and check-config with the reason",
          "[lab][root_files]") {
    if (!running_as_root()) return;
    HostileLab lab;
    REQUIRE(::chown(lab.state.c_str(), kNobody, kNogroup) == 0);
    const auto checked = run_certheal(lab.args("check-config"), lab.dir.path());
    INFO(checked.out);
    CHECK(checked.exit_code == 2);
    CHECK_THAT(checked.out, Catch::Contains("/service/state_dir: the state folder " + lab.state.string() +
                                            " is owned by user id 65534"));
    const auto started = run_certheal(lab.args("run --console"), lab.dir.path(), 20);
    INFO(started.out);
    CHECK(started.exit_code == 2);
    CHECK_THAT(started.out, Catch::Contains("certheal refused to start") && Catch::Contains("user id 65534"));
    CHECK_FALSE(fs::exists(lab.state / "journal.jsonl"));
    CHECK_FALSE(fs::exists(lab.state / "certheal.pid"));
}

TEST_CASE("a state folder its group can write, or a folder above it another user owns, is refused",
          "[lab][root_files]") {
    if (!running_as_root()) return;
    HostileLab lab;
    SECTION("group-writable") {
        REQUIRE(::chmod(lab.state.c_str(), 0775) == 0);
        const auto started = run_certheal(lab.args("run --console"), lab.dir.path(), 20);
        INFO(started.out);
        CHECK(started.exit_code == 2);
        CHECK_THAT(started.out, Catch::Contains("can be written by its group or by every user (mode 0775)"));
    }
    SECTION("a parent another user owns") {
        const auto parent = lab.dir.path() / "alice";
        fs::create_directories(parent / "state");
        REQUIRE(::chown(parent.c_str(), kNobody, kNogroup) == 0);
        lab.write_config(false, parent / "state");
        const auto started = run_certheal(lab.args("run --console"), lab.dir.path(), 20);
        INFO(started.out);
        CHECK(started.exit_code == 2);
        CHECK_THAT(started.out, Catch::Contains(parent.string() + ", a folder on the way to the state folder"));
    }
    SECTION("a textfile folder another user owns") {
        REQUIRE(::chown(lab.textfiles.c_str(), kNobody, kNogroup) == 0);
        const auto checked = run_certheal(lab.args("check-config"), lab.dir.path());
        INFO(checked.out);
        CHECK(checked.exit_code == 2);
        CHECK_THAT(checked.out, Catch::Contains("/service/textfile_dir: the textfile folder"));
    }
}

TEST_CASE("a sticky state folder certheal owns is accepted", "[lab][root_files]") {
    if (!running_as_root()) return;
    HostileLab lab;
    REQUIRE(::chmod(lab.state.c_str(), 01777) == 0);
    CerthealRun run(lab.config.string(), lab.state.string());
    REQUIRE(run.wait_for("service_started", 20s));
    CHECK(run.stop() == 0);
}

TEST_CASE("what a killed rewrite left behind is removed at the next start, and nothing else", "[lab][root_files]") {
    if (!running_as_root()) return;
    HostileLab lab;
    const fs::path leftovers[] = {lab.state / ".state.json.certheal-AbCdEfGhIjKl",
                                  lab.state / ".status.json.certheal-0123456789ab", lab.state / "status.json.tmp",
                                  lab.textfiles / ".certheal.prom.certheal-ZyXwVuTsRqPo"};
    for (const auto& leftover : leftovers) std::ofstream(leftover) << "half a file";
    std::ofstream(lab.state / "notes.txt") << "mine";
    std::ofstream(lab.textfiles / "node.prom") << "# another exporter's\n";
    CerthealRun run(lab.config.string(), lab.state.string());
    REQUIRE(run.wait_for("service_started", 20s));
    for (const auto& leftover : leftovers) {
        INFO(leftover);
        CHECK_FALSE(fs::exists(fs::symlink_status(leftover)));
    }
    CHECK(read_text(lab.state / "notes.txt") == "mine");
    CHECK(fs::exists(lab.textfiles / "node.prom"));
    CHECK(run.stop() == 0);
}

// --- one instance per state folder ----------------------------------------------------------

TEST_CASE("a second certheal run on the same state folder exits 3 and names the running one", "[lab][root_files]") {
    if (!running_as_root()) return;
    HostileLab lab;
    CerthealRun first(lab.config.string(), lab.state.string());
    REQUIRE(first.wait_for("service_started", 20s));
    const auto pid_file = lab.state / "certheal.pid";
    REQUIRE(eventually([&] { return read_text(pid_file) == std::to_string(first.pid) + "\n"; }, 10s));

    const auto second = run_certheal(lab.args("run --console"), lab.dir.path(), 20);
    INFO(second.out);
    CHECK(second.exit_code == 3);
    CHECK_THAT(second.out, Catch::Contains("already running (pid " + std::to_string(first.pid) + ")"));
    // The second one wrote and removed nothing: the pid file is still the first one's.
    CHECK(read_text(pid_file) == std::to_string(first.pid) + "\n");
    CHECK(lab.events("service_started").size() == 1);

    const auto status = run_certheal(lab.args("status"), lab.dir.path());
    CHECK_THAT(status.out, Catch::Contains("running (pid " + std::to_string(first.pid)));
    CHECK(first.stop() == 0);
    CHECK_FALSE(fs::exists(pid_file));
}

TEST_CASE("status finds the running service by its lock even when the pid file's text was changed",
          "[lab][root_files]") {
    if (!running_as_root()) return;
    HostileLab lab;
    CerthealRun run(lab.config.string(), lab.state.string());
    REQUIRE(run.wait_for("service_started", 20s));
    std::ofstream(lab.state / "certheal.pid", std::ios::trunc) << "1\n";
    const auto status = run_certheal(lab.args("status"), lab.dir.path());
    INFO(status.out);
    CHECK_THAT(status.out, Catch::Contains("running (pid " + std::to_string(run.pid)));
    CHECK(run.stop() == 0);
}

TEST_CASE("a pid file naming a zombie or a live program that is not the service is not running",
          "[lab][root_files]") {
    if (!running_as_root()) return;
    HostileLab lab;
    const auto pid_file = lab.state / "certheal.pid";
    SECTION("a zombie") {
        const pid_t zombie = ::fork();
        REQUIRE(zombie >= 0);
        if (zombie == 0) ::_exit(0);
        std::this_thread::sleep_for(100ms);  // dead, not reaped yet: a zombie
        std::ofstream(pid_file) << zombie << "\n";
        const auto status = run_certheal(lab.args("status"), lab.dir.path());
        const auto resumed = run_certheal(lab.args("resume"), lab.dir.path());
        ::waitpid(zombie, nullptr, 0);
        INFO(status.out);
        CHECK_THAT(status.out, Catch::Contains("not running"));
        INFO(resumed.out);
        CHECK(resumed.exit_code == 0);  // resumed the saved state itself
    }
    SECTION("a live program whose name starts with certheal") {
        const auto sleeper = lab.dir.path() / "certheal-sleeper";
        fs::copy_file("/bin/sleep", sleeper);
        const int pid = certheal::test::start_process({sleeper.string(), "60"}, lab.dir.path() / "sleeper.out");
        std::ofstream(pid_file) << pid << "\n";
        const auto status = run_certheal(lab.args("status"), lab.dir.path());
        const auto resumed = run_certheal(lab.args("resume"), lab.dir.path());
        const bool still_alive = ::kill(pid, 0) == 0 && ::waitpid(pid, nullptr, WNOHANG) == 0;
        certheal::test::stop_process(pid, 1s);
        INFO(status.out);
        CHECK_THAT(status.out, Catch::Contains("not running"));
        INFO(resumed.out);
        CHECK(resumed.exit_code == 0);
        CHECK(still_alive);  // never sent SIGUSR1, which would have ended it
        CHECK(read_text(pid_file) == std::to_string(pid) + "\n");  // not ours to delete
    }
}

// --- the repair lock ------------------------------------------------------------------------

TEST_CASE("certheal repair refuses to repair when its lock cannot be made, and says so in the journal",
          "[lab][root_files]") {
    if (!running_as_root()) return;
    HostileLab lab;
    lab.write_config(/*remediation=*/true);
    SECTION("a folder at the lock's name") {
        fs::create_directories(lab.state / "repair.lock");
    }
    SECTION("a link at the lock's name") {
        fs::create_symlink(lab.victim("lock"), lab.state / "repair.lock");
    }
    const auto repaired = run_certheal(lab.args("repair"), lab.dir.path());
    INFO(repaired.out);
    CHECK(repaired.exit_code == 3);
    const auto skipped = lab.events("repair_skipped");
    REQUIRE(skipped.size() == 1);
    CHECK(skipped[0].value("reason", "") == "lock_unavailable");
    CHECK_THAT(skipped[0].value("message", ""), Catch::Contains("repair lock"));
    CHECK(lab.events("repair_started").empty());
    if (fs::exists(lab.victims / "lock")) CHECK(HostileLab::untouched(lab.victims / "lock"));
}

TEST_CASE("certheal repair refuses to repair in an immutable state folder and says so in the journal",
          "[lab][root_files]") {
    if (!running_as_root()) return;
    HostileLab lab;
    lab.write_config(/*remediation=*/true);
    std::ofstream(lab.state / "journal.jsonl").close();  // exists: appending to it still works
    ::chmod((lab.state / "journal.jsonl").c_str(), 0640);
    Immutable immutable(lab.state);
    if (!immutable.ok()) {
        WARN("chattr +i is not possible here (file system or capability): nothing checked");
        return;
    }
    const auto repaired = run_certheal(lab.args("repair"), lab.dir.path());
    INFO(repaired.out);
    CHECK(repaired.exit_code == 3);
    const auto skipped = lab.events("repair_skipped");
    REQUIRE(skipped.size() == 1);
    CHECK(skipped[0].value("reason", "") == "lock_unavailable");
    CHECK_THAT(skipped[0].value("error", ""), Catch::Contains("immutable"));
    CHECK(lab.events("repair_started").empty());
}

TEST_CASE("the service does not repair without its repair lock and says why in the journal", "[lab][root_files]") {
    if (!running_as_root()) return;
    HostileLab lab;
    lab.write_config(/*remediation=*/true);
    fs::create_directories(lab.state / "repair.lock");
    CerthealRun run(lab.config.string(), lab.state.string());
    REQUIRE(run.wait_for("repair_skipped", 20s));
    CHECK(run.stop() == 0);
    const auto skipped = lab.events("repair_skipped");
    REQUIRE_FALSE(skipped.empty());
    CHECK(skipped[0].value("reason", "") == "lock_unavailable");
    CHECK_THAT(skipped[0].value("error", ""), Catch::Contains("a folder"));
    CHECK(lab.events("repair_started").empty());
}
