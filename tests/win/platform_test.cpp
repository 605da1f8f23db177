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

TEST_CASE("the repair lock is not re-entrant: a second lock in the same thread finds it busy until the first lets go",
          "[platform]") {
    const auto state = fresh_folder(L"certheal-repair-lock-unit");
    auto first = certheal::platform::make_repair_lock(state);
    auto second = certheal::platform::make_repair_lock(state);
    {
        const auto taken = first->try_acquire();
        REQUIRE(taken);
        CHECK(taken.value());
    }
    {
        // Same thread, another lock object: a Windows mutex would let its owner in again.
        const auto taken = second->try_acquire();
        REQUIRE(taken);
        CHECK_FALSE(taken.value());
    }
    first->release();
    {
        const auto taken = second->try_acquire();
        REQUIRE(taken);
        CHECK(taken.value());
    }
    second->release();
    {
        const auto again = first->try_acquire();  // the recursion count was given back in full
        REQUIRE(again);
        CHECK(again.value());
        first->release();
    }
}
