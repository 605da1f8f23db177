#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "service/posix/process_runner.hpp"
#include "service/posix/systemd_service_manager.hpp"

using namespace certheal;
using namespace std::chrono_literals;
using Strings = std::vector<std::string>;

TEST_CASE("on a host without systemd every call fails with a clear sentence", "[systemd]") {
    if (std::filesystem::exists("/run/systemd/system")) {
        WARN("This host runs systemd; the no-systemd path is covered by the fake-systemctl tests only.");
        return;
    }
    PosixProcessRunner runner;
    SystemdServiceManager manager(runner);

    const auto stopped = manager.stop_service("nginx", true, 10s, {});
    REQUIRE_FALSE(stopped.ok());
    CHECK(stopped.error().message ==
          "systemd is not running on this host, so certheal cannot stop service nginx; run the repair with a `run` "
          "step or start certheal on a systemd host.");
    CHECK(stopped.error().code == std::errc::not_supported);

    const auto started = manager.start_service("nginx", 10s, {});
    REQUIRE_FALSE(started.ok());
    CHECK(started.error().message.find("cannot start service nginx") != std::string::npos);
}

namespace {

// A stand-in for systemctl: a shell script that keeps unit states in files and logs each call,
// with the same verbs, output and exit codes certheal relies on.
class FakeSystemd {
public:
    FakeSystemd() {
        std::random_device entropy;
        root_ = std::filesystem::temp_directory_path() /
                ("certheal-fake-systemd-" + std::to_string(entropy()) + std::to_string(entropy()));
        std::filesystem::create_directories(root_ / "run-systemd-system");
        std::filesystem::create_directories(root_ / "state");
        std::filesystem::create_directories(root_ / "reverse");
        std::filesystem::create_directories(root_ / "forward");
        std::filesystem::create_directories(root_ / "fail");
        const auto script = root_ / "systemctl";
        std::ofstream(script) << "#!/bin/sh\n"
                                 "root='" + root_.string() + "'\n"
                                 "echo \"$*\" >> \"$root/calls.log\"\n"
                                 "state_of() { if [ -f \"$root/state/$1\" ]; then cat \"$root/state/$1\"; else echo inactive; fi; }\n"
                                 "for last; do :; done\n"
                                 "case \"$1\" in\n"
                                 "  is-system-running) cat \"$root/system-state\" 2>/dev/null || echo running; exit 0 ;;\n"
                                 "  is-active) shift; code=3; for unit; do s=$(state_of \"$unit\"); echo \"$s\";"
                                 " [ \"$s\" = active ] && code=0; done; exit $code ;;\n"
                                 "  stop) echo inactive > \"$root/state/$2\"; exit 0 ;;\n"
                                 "  start) if [ -f \"$root/fail/$2\" ]; then echo \"Job for $2 failed because the control"
                                 " process exited with error code.\" >&2; echo failed > \"$root/state/$2\"; exit 1; fi;"
                                 " echo active > \"$root/state/$2\"; exit 0 ;;\n"
                                 "  list-dependencies) echo \"$last\"; case \"$*\" in *--reverse*) dir=reverse ;; *) dir=forward ;; esac;"
                                 " if [ -f \"$root/$dir/$last\" ]; then sed 's/^/  /' \"$root/$dir/$last\"; fi; exit 0 ;;\n"
                                 "esac\n"
                                 "echo \"Unknown command verb $1.\" >&2; exit 1\n";
        std::filesystem::permissions(script, std::filesystem::perms::owner_all);
    }
    ~FakeSystemd() {
        std::error_code ignored;
        std::filesystem::remove_all(root_, ignored);
    }

    SystemdPaths paths() const { return {root_ / "systemctl", root_ / "run-systemd-system"}; }
    void set(const std::string& unit, const std::string& state) { std::ofstream(root_ / "state" / unit) << state << "\n"; }
    void dependents(const std::string& unit, const Strings& units) { write_list(root_ / "reverse" / unit, units); }
    void dependencies(const std::string& unit, const Strings& units) { write_list(root_ / "forward" / unit, units); }
    void fails_to_start(const std::string& unit) { std::ofstream(root_ / "fail" / unit) << "\n"; }
    void system_state(const std::string& state) { std::ofstream(root_ / "system-state") << state << "\n"; }

    std::string state(const std::string& unit) const {
        std::ifstream in(root_ / "state" / unit);
        std::string text;
        return std::getline(in, text) ? text : "inactive";
    }
    // The state-changing calls, in order.
    Strings changes() const {
        std::ifstream in(root_ / "calls.log");
        Strings calls;
        for (std::string line; std::getline(in, line);) {
            if (line.rfind("stop ", 0) == 0 || line.rfind("start ", 0) == 0) calls.push_back(line);
        }
        return calls;
    }

private:
    static void write_list(const std::filesystem::path& file, const Strings& units) {
        std::ofstream out(file);
        for (const auto& unit : units) out << unit << "\n";
    }
    std::filesystem::path root_;
};

}  // namespace

TEST_CASE("stopping with dependents stops the active ones first and reports them", "[systemd]") {
    FakeSystemd systemd;
    // nginx <- php-fpm <- worker; nginx <- reporter (inactive); nginx <- multi-user.target
    systemd.dependents("nginx.service", {"php-fpm.service", "reporter.service", "multi-user.target"});
    systemd.dependents("php-fpm.service", {"worker.service"});
    systemd.set("nginx.service", "active");
    systemd.set("php-fpm.service", "active");
    systemd.set("worker.service", "active");
    systemd.set("reporter.service", "inactive");
    PosixProcessRunner runner;
    SystemdServiceManager manager(runner, systemd.paths());

    const auto stopped = manager.stop_service("nginx", true, 20s, {});

    REQUIRE(stopped.ok());
    CHECK(stopped.value() == Strings{"worker.service", "php-fpm.service"});
    CHECK(systemd.changes() == Strings{"stop worker.service", "stop php-fpm.service", "stop nginx.service"});
    CHECK(systemd.state("nginx.service") == "inactive");
}

TEST_CASE("stopping without dependents stops only the service", "[systemd]") {
    FakeSystemd systemd;
    systemd.dependents("nginx.service", {"php-fpm.service"});
    systemd.set("nginx.service", "active");
    systemd.set("php-fpm.service", "active");
    PosixProcessRunner runner;
    SystemdServiceManager manager(runner, systemd.paths());

    const auto stopped = manager.stop_service("nginx", false, 20s, {});

    REQUIRE(stopped.ok());
    CHECK(stopped.value().empty());
    CHECK(systemd.changes() == Strings{"stop nginx.service"});
}

TEST_CASE("starting a service starts its stopped dependencies first and waits for it", "[systemd]") {
    FakeSystemd systemd;
    systemd.dependencies("nginx.service", {"php-fpm.service", "redis.service", "-.mount", "sysinit.target"});
    systemd.set("redis.service", "active");
    PosixProcessRunner runner;
    SystemdServiceManager manager(runner, systemd.paths());

    const auto started = manager.start_service("nginx", 20s, {});

    REQUIRE(started.ok());
    CHECK(systemd.changes() == Strings{"start php-fpm.service", "start nginx.service"});
    CHECK(systemd.state("nginx.service") == "active");
}

TEST_CASE("a service that fails to start is a failure with systemd's words", "[systemd]") {
    FakeSystemd systemd;
    systemd.fails_to_start("nginx.service");
    PosixProcessRunner runner;
    SystemdServiceManager manager(runner, systemd.paths());

    const auto started = manager.start_service("nginx", 20s, {});

    REQUIRE_FALSE(started.ok());
    CHECK(started.error().message.find("`systemctl start nginx.service` failed with exit code 1 while starting "
                                       "service nginx: Job for nginx.service failed") != std::string::npos);
    // systemctl's exit code is its own number, not an errno (exit 1 is not EPERM).
    CHECK(std::string(started.error().code.category().name()) == "systemctl");
    CHECK(started.error().code.value() == 1);
    CHECK(started.error().code.message() == "systemctl exit code 1 (the unit failed, or an unspecified error)");
}

TEST_CASE("a systemd that says it is offline counts as not running", "[systemd]") {
    FakeSystemd systemd;
    systemd.system_state("offline");
    PosixProcessRunner runner;
    SystemdServiceManager manager(runner, systemd.paths());

    const auto stopped = manager.stop_service("nginx", true, 20s, {});

    REQUIRE_FALSE(stopped.ok());
    CHECK(stopped.error().message.rfind("systemd is not running on this host", 0) == 0);
    CHECK(systemd.changes().empty());
}

TEST_CASE("a cancelled stop touches nothing", "[systemd]") {
    FakeSystemd systemd;
    systemd.set("nginx.service", "active");
    PosixProcessRunner runner;
    SystemdServiceManager manager(runner, systemd.paths());
    std::stop_source stopping;
    stopping.request_stop();

    const auto stopped = manager.stop_service("nginx", true, 20s, stopping.get_token());

    REQUIRE_FALSE(stopped.ok());
    CHECK(stopped.error().code == std::errc::operation_canceled);
    CHECK(systemd.state("nginx.service") == "active");
}
