// The Windows platform answers: folders, and who may change the configuration.

#include <windows.h>
#include <aclapi.h>

#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "file_support.hpp"
#include "service/platform.hpp"

using win_test::fresh_folder;

TEST_CASE("the configuration and state live under ProgramData", "[platform]") {
    const auto state = certheal::platform::default_state_dir();
    CHECK(state.filename() == L"certheal");
    CHECK(certheal::platform::default_config_path() == state / L"certheal.json");
    CHECK(state.is_absolute());
}

TEST_CASE("a config file only its owner can write raises no protection problem", "[platform]") {
    const auto folder = fresh_folder(L"certheal-acl-own");
    const auto config = folder / L"certheal.json";
    std::ofstream(config) << "{}";

    const auto problem = certheal::platform::config_write_protection_problem(config);
    CHECK_FALSE(problem.has_value());
    if (problem) WARN(*problem);
}

TEST_CASE("a config file every user can write is named with who can write it", "[platform]") {
    const auto folder = fresh_folder(L"certheal-acl-everyone");
    const auto config = folder / L"certheal.json";
    std::ofstream(config) << "{}";
    win_test::let_everyone_write(config);

    const auto problem = certheal::platform::config_write_protection_problem(config);
    REQUIRE(problem.has_value());
    CHECK_THAT(*problem, Catch::Contains("certheal.json") && Catch::Contains("Everyone"));
}
