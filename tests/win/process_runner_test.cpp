// WinProcessRunner under Wine, with certheal_lab_service.exe --child as the program.

#include <windows.h>

#include <algorithm>
#include <chrono>
#include <cwctype>
#include <set>
#include <sstream>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "service/win/process_runner.hpp"
#include "service/win/win_error.hpp"

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

std::filesystem::path system_folder() {
    wchar_t folder[MAX_PATH] = {};
    ::GetSystemDirectoryW(folder, MAX_PATH);
    return folder;
}

std::filesystem::path cmd_exe() { return system_folder() / L"cmd.exe"; }

bool under_wine() {
    return ::GetProcAddress(::GetModuleHandleW(L"ntdll.dll"), "wine_get_version") != nullptr;
}

std::string upper(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return text;
}

// The names of "NAME=value" lines, in order.
std::vector<std::string> variable_names(const std::string& text) {
    std::vector<std::string> names;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        const auto equals = line.find('=', 1);  // "=C:=C:\" entries start with '='
        if (equals != std::string::npos) names.push_back(line.substr(0, equals));
    }
    return names;
}

// What a console program printed, with its text-mode "\r\n" line ends as "\n".
std::string printed(std::string text) {
    text.erase(std::remove(text.begin(), text.end(), '\r'), text.end());
    return text;
}

// The entries of `killed` without conhost.exe: Windows (and Wine) start one for every console
// program created without a window, in its job, so it is ended with it.
std::vector<std::string> without_console_hosts(const std::vector<std::string>& entries) {
    std::vector<std::string> kept;
    for (const auto& entry : entries) {
        if (!entry.ends_with(" conhost.exe")) kept.push_back(entry);
    }
    return kept;
}

std::string joined(const std::vector<std::string>& entries) {
    std::string text;
    for (const auto& entry : entries) text += (text.empty() ? "" : ", ") + entry;
    return text;
}

bool has_variable(const wchar_t* name) { return ::GetEnvironmentVariableW(name, nullptr, 0) != 0; }

// The process with this pid has ended (or never existed).
bool has_ended(DWORD pid) {
    HANDLE process = ::OpenProcess(SYNCHRONIZE, FALSE, pid);
    if (process == nullptr) return true;
    const bool ended = ::WaitForSingleObject(process, 0) == WAIT_OBJECT_0;
    ::CloseHandle(process);
    return ended;
}

DWORD entry_pid(const std::string& entry) { return static_cast<DWORD>(std::stoul(entry)); }

// Ends a process a test left running on purpose, whatever happens to the test.
struct TerminateAtEnd {
    std::vector<DWORD> pids;
    ~TerminateAtEnd() {
        for (const DWORD pid : pids) {
            if (HANDLE process = ::OpenProcess(PROCESS_TERMINATE, FALSE, pid)) {
                ::TerminateProcess(process, 1);
                ::CloseHandle(process);
            }
        }
    }
};

// As a site's password_env would be set in certheal's environment.
struct ScopedPassword {
    ScopedPassword() { ::SetEnvironmentVariableW(L"CERTHEAL_TEST_PFX_PASSWORD", L"hunter2-b7e1c0ffee"); }
    ~ScopedPassword() { ::SetEnvironmentVariableW(L"CERTHEAL_TEST_PFX_PASSWORD", nullptr); }
    ScopedPassword(const ScopedPassword&) = delete;
    ScopedPassword& operator=(const ScopedPassword&) = delete;
};

// README.md, "What a run step gets": the variables passed on when certheal has them.
const wchar_t* const documented_variables[] = {
    L"SystemRoot", L"windir", L"SystemDrive", L"ComSpec", L"PATHEXT", L"TEMP", L"TMP", L"ProgramData",
    L"ProgramFiles", L"ProgramFiles(x86)", L"ProgramW6432", L"CommonProgramFiles", L"CommonProgramFiles(x86)",
    L"CommonProgramW6432", L"ALLUSERSPROFILE", L"USERPROFILE", L"APPDATA", L"LOCALAPPDATA", L"USERNAME",
    L"COMPUTERNAME", L"NUMBER_OF_PROCESSORS", L"PROCESSOR_ARCHITECTURE", L"OS", L"PSModulePath",
};

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

// --- what a run step gets: its environment and working directory ---------------------------

TEST_CASE("a program gets exactly the documented environment, never certheal's", "[process]") {
    const ScopedPassword password;
    WinProcessRunner runner;
    auto outcome = runner.run(child_program(), {"--print-environment"}, 30s, {});
    REQUIRE(outcome.ok());
    REQUIRE(outcome.value().exit_code == 0);
    const std::string environment = printed(outcome.value().stdout_tail);
    INFO(environment);
    CHECK(environment.find("hunter2") == std::string::npos);

    std::set<std::string> expected{"PATH", "SYSTEMROOT"};
    for (const wchar_t* name : documented_variables) {
        if (has_variable(name)) expected.insert(upper(certheal::win::to_utf8(name)));
    }
    std::set<std::string> seen;
    for (const auto& name : variable_names(environment)) {
        // Wine hands every process a few WINE* variables of its own (where its files are, and
        // WINEDLLOVERRIDES from the Unix environment); Windows adds nothing to the block.
        if (under_wine() && upper(name).starts_with("WINE")) continue;
        seen.insert(upper(name));
    }
    CHECK(seen == expected);
}

TEST_CASE("the environment block is sorted by name without regard to case, as CreateProcessW requires",
          "[process]") {
    // Checked on the block itself: Wine reorders a child's variables (SystemDrive and SystemRoot last).
    const std::wstring block = certheal::win::step_environment_block();
    REQUIRE(block.size() >= 2);
    CHECK(block.ends_with(std::wstring(2, L'\0')));
    std::vector<std::string> names;
    for (size_t at = 0; at < block.size() && block[at] != L'\0'; at = block.find(L'\0', at) + 1) {
        const std::wstring entry = block.substr(at, block.find(L'\0', at) - at);
        names.push_back(upper(certheal::win::to_utf8(entry.substr(0, entry.find(L'=')))));
    }
    INFO(joined(names));
    CHECK(names.size() >= 3);
    CHECK(std::is_sorted(names.begin(), names.end()));
    CHECK(std::adjacent_find(names.begin(), names.end()) == names.end());
}

TEST_CASE("a program's Path holds Windows' folders only", "[process]") {
    WinProcessRunner runner;
    auto outcome = runner.run(child_program(), {"--print-environment"}, 30s, {});
    REQUIRE(outcome.ok());
    wchar_t windows[MAX_PATH] = {};
    ::GetEnvironmentVariableW(L"SystemRoot", windows, MAX_PATH);
    const std::string root = certheal::win::to_utf8(windows);
    CHECK_THAT(printed(outcome.value().stdout_tail),
               Catch::Contains("Path=" + root + "\\system32;" + root + ";" + root + "\\System32\\Wbem;" + root +
                               "\\System32\\WindowsPowerShell\\v1.0\\\n"));
}

TEST_CASE("cmd.exe's set shows no variable of certheal's, and cmd.exe still finds programs by name", "[process]") {
    const ScopedPassword password;
    WinProcessRunner runner;
    auto set = runner.run(cmd_exe(), {"/c", "set"}, 30s, {});
    REQUIRE(set.ok());
    INFO(set.value().stdout_tail);
    CHECK(set.value().exit_code == 0);
    CHECK(set.value().stdout_tail.find("hunter2") == std::string::npos);
    CHECK(set.value().stdout_tail.find("CERTHEAL_TEST_PFX_PASSWORD") == std::string::npos);
    CHECK_THAT(set.value().stdout_tail, Catch::Contains("SystemRoot="));

    // hostname.exe is found through Path and PATHEXT.
    auto hostname = runner.run(cmd_exe(), {"/c", "hostname"}, 30s, {});
    REQUIRE(hostname.ok());
    INFO(hostname.value().stderr_tail);
    CHECK(hostname.value().exit_code == 0);
    CHECK_FALSE(hostname.value().stdout_tail.empty());
}

TEST_CASE("a program starts in the system folder, whatever certheal's working directory", "[process]") {
    WinProcessRunner runner;
    auto outcome = runner.run(child_program(), {"--print-directory"}, 30s, {});
    REQUIRE(outcome.ok());
    CHECK(upper(outcome.value().stdout_tail) == upper(certheal::win::to_utf8(system_folder().wstring())));
}

// --- the whole tree ----------------------------------------------------------------------------

TEST_CASE("nothing a program starts can break away from its job", "[process]") {
    WinProcessRunner runner;
    auto outcome = runner.run(child_program(), {"--breakaway"}, 30s, {});
    REQUIRE(outcome.ok());
    INFO(outcome.value().stdout_tail);
    CHECK(outcome.value().exit_code == 0);
    CHECK(printed(outcome.value().stdout_tail) == "refused " + std::to_string(ERROR_ACCESS_DENIED) + "\n");
}

TEST_CASE("a timeout ends a detached grandchild too and lists every process it ended", "[process]") {
    WinProcessRunner runner;
    auto outcome = runner.run(child_program(), {"--spawn-child", "300000"}, 2s, {});
    REQUIRE(outcome.ok());
    const auto& result = outcome.value();
    INFO(result.stdout_tail);
    CHECK(result.timed_out);
    const DWORD grandchild = static_cast<DWORD>(std::stoul(result.stdout_tail));
    TerminateAtEnd tidy{{grandchild}};
    INFO("killed: " << joined(result.killed));
    CHECK(has_ended(grandchild));
    const auto killed = without_console_hosts(result.killed);
    REQUIRE(killed.size() == 2);
    CHECK(killed[0].ends_with(" certheal_lab_service.exe"));  // the program first
    CHECK(killed[1] == std::to_string(grandchild) + " certheal_lab_service.exe");
    for (const auto& entry : result.killed) CHECK(has_ended(entry_pid(entry)));
    CHECK(result.left_running.empty());
}

TEST_CASE("a timeout ends what cmd.exe started with start /b", "[process]") {
    WinProcessRunner runner;
    const std::string lab = certheal::win::to_utf8(child_program().wstring());
    auto outcome = runner.run(cmd_exe(),
                              {"/c", "start", "/b", lab, "--child", "a", "", "0", "300000", "&", lab, "--child", "b", "",
                               "0", "300000"},
                              3s, {});
    REQUIRE(outcome.ok());
    const auto& result = outcome.value();
    INFO("killed: " << joined(result.killed));
    CHECK(result.timed_out);
    CHECK(result.killed.at(0).ends_with(" cmd.exe"));
    CHECK(std::count_if(result.killed.begin(), result.killed.end(), [](const std::string& entry) {
              return entry.ends_with(" certheal_lab_service.exe");
          }) == 2);
    for (const auto& entry : result.killed) CHECK(has_ended(entry_pid(entry)));
    CHECK(result.left_running.empty());
}

TEST_CASE("a stop request ends a detached grandchild too", "[process]") {
    WinProcessRunner runner;
    std::stop_source certheal_stopping;
    std::jthread stopper([&] {
        std::this_thread::sleep_for(1s);
        certheal_stopping.request_stop();
    });
    auto outcome = runner.run(child_program(), {"--spawn-child", "300000"}, 60s, certheal_stopping.get_token());
    REQUIRE(outcome.ok());
    CHECK(outcome.value().cancelled);
    const DWORD grandchild = static_cast<DWORD>(std::stoul(outcome.value().stdout_tail));
    TerminateAtEnd tidy{{grandchild}};
    INFO("killed: " << joined(outcome.value().killed));
    CHECK(has_ended(grandchild));
    CHECK(without_console_hosts(outcome.value().killed).size() == 2);
}

TEST_CASE("what a program leaves running when it exits normally is left alone and listed", "[process]") {
    WinProcessRunner runner;
    auto outcome = runner.run(child_program(), {"--spawn-child", "300000", "0"}, 30s, {});
    REQUIRE(outcome.ok());
    const auto& result = outcome.value();
    CHECK(result.exit_code == 0);
    const DWORD daemon = static_cast<DWORD>(std::stoul(result.stdout_tail));
    TerminateAtEnd tidy{{daemon}};
    CHECK_FALSE(has_ended(daemon));
    INFO("left running: " << joined(result.left_running));
    CHECK(without_console_hosts(result.left_running) ==
          std::vector<std::string>{std::to_string(daemon) + " certheal_lab_service.exe"});
    CHECK(result.killed.empty());
}
