// WinProcessRunner under Wine, with certheal_lab_service.exe --child as the program.

#include <windows.h>

#include <chrono>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "service/win/process_runner.hpp"

using certheal::win::WinProcessRunner;
using namespace std::chrono_literals;

namespace {

std::filesystem::path child_program() {
    wchar_t path[MAX_PATH] = {};
    ::GetModuleFileNameW(nullptr, path, MAX_PATH);
    return std::filesystem::path(path).parent_path() / L"certheal_lab_service.exe";
}

std::vector<std::string> child_args(std::string out, std::string err, int exit_code, int sleep_ms) {
    return {"--child", std::move(out), std::move(err), std::to_string(exit_code), std::to_string(sleep_ms)};
}

}  // namespace

TEST_CASE("arguments are quoted so that the C runtime splits them back unchanged", "[process]") {
    CHECK(certheal::win::build_command_line(L"C:\\x\\a b.exe", {"plain", "two words", "", "say \"hi\"", "dir\\"}) ==
          LR"("C:\x\a b.exe" plain "two words" "" "say \"hi\"" dir\)");
    CHECK(certheal::win::build_command_line(L"C:\\p.exe", {"ends in slash\\"}) == LR"(C:\p.exe "ends in slash\\")");
}

TEST_CASE("a program's exit code and the ends of its output are reported", "[process]") {
    WinProcessRunner runner;
    auto outcome = runner.run(child_program(), child_args("all good", "a warning", 3, 0), 30s, {});

    INFO((outcome ? std::string() : outcome.error().message));
    REQUIRE(outcome.ok());
    CHECK(outcome.value().exit_code == 3);
    CHECK_FALSE(outcome.value().timed_out);
    CHECK_FALSE(outcome.value().cancelled);
    CHECK(outcome.value().stdout_tail == "all good");
    CHECK(outcome.value().stderr_tail == "a warning");
}

TEST_CASE("only the last tail_bytes of the output are kept", "[process]") {
    WinProcessRunner runner(WinProcessRunner::Options{4, std::chrono::milliseconds(500)});
    auto outcome = runner.run(child_program(), child_args("0123456789", "abcdef", 0, 0), 30s, {});

    REQUIRE(outcome.ok());
    CHECK(outcome.value().stdout_tail == "6789");
    CHECK(outcome.value().stderr_tail == "cdef");
}

TEST_CASE("a program that outlives its timeout is ended and reported as timed out", "[process]") {
    WinProcessRunner runner;
    const auto began = std::chrono::steady_clock::now();
    auto outcome = runner.run(child_program(), child_args("started", "", 0, 30000), 1s, {});

    REQUIRE(outcome.ok());
    CHECK(outcome.value().timed_out);
    CHECK(outcome.value().stdout_tail == "started");
    CHECK(std::chrono::steady_clock::now() - began < 10s);
}

TEST_CASE("a stop request ends a running program and is reported as cancelled", "[process]") {
    WinProcessRunner runner;
    std::stop_source certheal_stopping;
    std::jthread stopper([&] {
        std::this_thread::sleep_for(500ms);
        certheal_stopping.request_stop();
    });
    const auto began = std::chrono::steady_clock::now();
    auto outcome = runner.run(child_program(), child_args("", "", 0, 30000), 60s, certheal_stopping.get_token());

    REQUIRE(outcome.ok());
    CHECK(outcome.value().cancelled);
    CHECK_FALSE(outcome.value().timed_out);
    CHECK(std::chrono::steady_clock::now() - began < 10s);
}

TEST_CASE("a program that does not exist is a failure that names it", "[process]") {
    WinProcessRunner runner;
    auto outcome = runner.run(L"C:\\certheal\\no-such-program.exe", {}, 5s, {});

    REQUIRE_FALSE(outcome.ok());
    const auto code = static_cast<DWORD>(outcome.error().code.value());  // the folder is missing too
    CHECK((code == ERROR_FILE_NOT_FOUND || code == ERROR_PATH_NOT_FOUND));
    CHECK_THAT(outcome.error().message, Catch::Contains("no-such-program.exe"));
}
