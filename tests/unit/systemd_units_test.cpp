// Reading systemctl's output. The adapter exists only in POSIX builds.
#ifndef _WIN32

#include <catch2/catch.hpp>

#include "service/posix/systemd_service_manager.hpp"

using namespace certheal;
using Strings = std::vector<std::string>;

TEST_CASE("a bare service name becomes a .service unit", "[systemd]") {
    CHECK(systemd_unit_name("nginx") == "nginx.service");
    CHECK(systemd_unit_name("php8.2-fpm") == "php8.2-fpm.service");
    CHECK(systemd_unit_name("nginx.service") == "nginx.service");
    CHECK(systemd_unit_name("web.target") == "web.target");
    CHECK(systemd_unit_name("getty@tty1.service") == "getty@tty1.service");
}

TEST_CASE("only .service units count as services", "[systemd]") {
    CHECK(is_service_unit("nginx.service"));
    CHECK_FALSE(is_service_unit("multi-user.target"));
    CHECK_FALSE(is_service_unit(".service"));
    CHECK_FALSE(is_service_unit("nginx"));
}

TEST_CASE("a plain dependency listing yields the units after the first line", "[systemd]") {
    const auto units = parse_dependency_list("nginx.service\n"
                                             "  php-fpm.service\n"
                                             "  app@blue.service\n"
                                             "  multi-user.target\n");
    CHECK(units == Strings{"php-fpm.service", "app@blue.service", "multi-user.target"});
}

TEST_CASE("a dependency listing with no dependents is empty", "[systemd]") {
    CHECK(parse_dependency_list("nginx.service\n").empty());
    CHECK(parse_dependency_list("").empty());
}

TEST_CASE("tree glyphs, state bullets and repeat markers are ignored", "[systemd]") {
    const auto units = parse_dependency_list("nginx.service\n"
                                             "\xE2\x97\x8F \xE2\x94\x9C\xE2\x94\x80php-fpm.service\n"  // ● ├─
                                             "\xE2\x97\x8B \xE2\x94\x94\xE2\x94\x80-.mount\n"          // ○ └─
                                             "  \xE2\x94\x94\xE2\x94\x80...\n"
                                             "  php-fpm.service\r\n");
    CHECK(units == Strings{"php-fpm.service", "-.mount"});
}

TEST_CASE("is-active output reads as one state per unit", "[systemd]") {
    CHECK(parse_active_states("active\ninactive\nfailed\n") == Strings{"active", "inactive", "failed"});
    CHECK(parse_active_states("activating") == Strings{"activating"});
    CHECK(parse_active_states("\n").empty());
}

TEST_CASE("active, reloading and activating units count as running", "[systemd]") {
    CHECK(counts_as_running("active"));
    CHECK(counts_as_running("reloading"));
    CHECK(counts_as_running("activating"));
    CHECK_FALSE(counts_as_running("inactive"));
    CHECK_FALSE(counts_as_running("failed"));
    CHECK_FALSE(counts_as_running("deactivating"));
    CHECK_FALSE(counts_as_running("unknown"));
}

TEST_CASE("dependents are stopped before the units they depend on", "[systemd]") {
    // php-fpm and worker depend on db; worker also depends on php-fpm.
    const std::map<std::string, Strings> dependents{
        {"db.service", {"php-fpm.service", "worker.service"}},
        {"php-fpm.service", {"worker.service"}},
        {"worker.service", {}},
    };
    CHECK(order_for_stopping("db.service", dependents) == Strings{"worker.service", "php-fpm.service"});
}

TEST_CASE("a unit without dependents has nothing to stop first", "[systemd]") {
    CHECK(order_for_stopping("nginx.service", {}).empty());
    CHECK(order_for_stopping("nginx.service", {{"nginx.service", {}}}).empty());
}

TEST_CASE("a dependency cycle does not loop and lists each unit once", "[systemd]") {
    const std::map<std::string, Strings> dependents{
        {"a.service", {"b.service"}},
        {"b.service", {"c.service"}},
        {"c.service", {"b.service", "a.service"}},
    };
    CHECK(order_for_stopping("a.service", dependents) == Strings{"c.service", "b.service"});
}

TEST_CASE("systemctl exit codes read as systemctl's, never as errno", "[systemd]") {
    const std::error_code not_loaded(5, certheal::systemctl_exit_category());
    CHECK(not_loaded.message() == "systemctl exit code 5 (the unit is not loaded or not installed)");
    CHECK(not_loaded.message().find("Input/output") == std::string::npos);
    CHECK(std::error_code(77, certheal::systemctl_exit_category()).message() == "systemctl exit code 77");
}

#endif  // _WIN32
