// ScmServiceManager against a real Service Control Manager: Wine's, in the throwaway prefix
// that run-wine-tests.sh creates (or Windows, run as an administrator on a test machine).
// The lab services are certheal_lab_service.exe, installed next to this test.

#include <windows.h>

#include <algorithm>
#include <chrono>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "config/config.hpp"  // format_duration
#include "service/win/handles.hpp"
#include "service/win/scm_service_manager.hpp"
#include "service/win/win_error.hpp"

using certheal::win::ScHandle;
using certheal::win::ScmServiceManager;
using namespace std::chrono_literals;

namespace {

const std::string kParent = "CertHealLabParent";
const std::string kChildA = "CertHealLabChildA";          // depends on Parent
const std::string kChildB = "CertHealLabChildB";          // depends on Parent, takes 1.5 s to stop
const std::string kGrandchild = "CertHealLabGrandchild";  // depends on ChildA (named in lower case)
const std::string kIdle = "CertHealLabIdle";              // depends on Parent, left stopped
const std::string kSlow = "CertHealLabSlow";              // takes 6 s to stop

std::wstring wide(const std::string& text) { return certheal::win::to_utf16(text); }

ScHandle open_manager() {
    ScHandle manager(::OpenSCManagerW(nullptr, nullptr, SC_MANAGER_ALL_ACCESS));
    if (!manager) FAIL("OpenSCManagerW failed: " << ::GetLastError());
    return manager;
}

std::wstring lab_service_exe() {
    wchar_t path[MAX_PATH] = {};
    ::GetModuleFileNameW(nullptr, path, MAX_PATH);
    std::wstring directory(path);
    directory.erase(directory.find_last_of(L"\\/") + 1);
    return directory + L"certheal_lab_service.exe";
}

void install(const std::string& name, const std::wstring& dependencies_multi_sz, int stop_delay_ms) {
    ScHandle manager = open_manager();
    if (ScHandle existing(::OpenServiceW(manager.get(), wide(name).c_str(), SERVICE_QUERY_STATUS)); existing) return;
    const std::wstring command =
        L"\"" + lab_service_exe() + L"\" " + wide(name) + L" " + std::to_wstring(stop_delay_ms);
    // Dependencies go through CreateServiceW: `sc create depend=` does not work under Wine.
    ScHandle created(::CreateServiceW(manager.get(), wide(name).c_str(), wide(name).c_str(), SERVICE_ALL_ACCESS,
                                      SERVICE_WIN32_OWN_PROCESS, SERVICE_DEMAND_START, SERVICE_ERROR_NORMAL,
                                      command.c_str(), nullptr, nullptr,
                                      dependencies_multi_sz.empty() ? nullptr : dependencies_multi_sz.c_str(),
                                      nullptr, nullptr));
    if (!created) FAIL("CreateServiceW(" << name << ") failed: " << ::GetLastError());
}

void install_lab_services() {
    static bool installed = false;
    if (installed) return;
    install(kParent, L"", 0);
    install(kChildA, wide(kParent) + L'\0', 0);
    install(kChildB, wide(kParent) + L'\0', 1500);
    install(kGrandchild, L"certheallabchilda" + std::wstring(1, L'\0'), 0);  // names are case-insensitive
    install(kIdle, wide(kParent) + L'\0', 0);
    install(kSlow, L"", 6000);
    installed = true;
}

DWORD state_of(const std::string& name) {
    ScHandle manager = open_manager();
    ScHandle service(::OpenServiceW(manager.get(), wide(name).c_str(), SERVICE_QUERY_STATUS));
    if (!service) FAIL("OpenServiceW(" << name << ") failed: " << ::GetLastError());
    SERVICE_STATUS_PROCESS status{};
    DWORD needed = 0;
    if (!::QueryServiceStatusEx(service.get(), SC_STATUS_PROCESS_INFO, reinterpret_cast<BYTE*>(&status),
                                sizeof(status), &needed)) {
        FAIL("QueryServiceStatusEx(" << name << ") failed: " << ::GetLastError());
    }
    return status.dwCurrentState;
}

void await_state(const std::string& name, DWORD wanted) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (state_of(name) != wanted) {
        if (std::chrono::steady_clock::now() > deadline) FAIL(name << " did not reach state " << wanted);
        std::this_thread::sleep_for(100ms);
    }
}

// Test set-up goes through the raw API, not through the code under test.
void start_directly(const std::string& name) {
    ScHandle manager = open_manager();
    ScHandle service(::OpenServiceW(manager.get(), wide(name).c_str(), SERVICE_START | SERVICE_QUERY_STATUS));
    if (state_of(name) == SERVICE_STOPPED && !::StartServiceW(service.get(), 0, nullptr) &&
        ::GetLastError() != ERROR_SERVICE_ALREADY_RUNNING) {
        FAIL("StartServiceW(" << name << ") failed: " << ::GetLastError());
    }
    await_state(name, SERVICE_RUNNING);
}

void stop_directly(const std::string& name) {
    ScHandle manager = open_manager();
    ScHandle service(::OpenServiceW(manager.get(), wide(name).c_str(), SERVICE_STOP | SERVICE_QUERY_STATUS));
    if (state_of(name) == SERVICE_RUNNING) {  // a second STOP would kill it under Wine
        SERVICE_STATUS status{};
        ::ControlService(service.get(), SERVICE_CONTROL_STOP, &status);
    }
    await_state(name, SERVICE_STOPPED);
}

void stop_all_lab_services() {
    for (const auto& name : {kGrandchild, kChildA, kChildB, kIdle, kParent, kSlow}) stop_directly(name);
}

std::ptrdiff_t position(const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) - names.begin();
}

}  // namespace

TEST_CASE("stopping a service with its dependents stops the running ones first and returns them", "[scm]") {
    install_lab_services();
    stop_all_lab_services();
    for (const auto& name : {kParent, kChildA, kChildB, kGrandchild}) start_directly(name);

    ScmServiceManager manager;
    auto stopped = manager.stop_service(kParent, true, 60s, {});

    INFO((stopped ? std::string() : stopped.error().message));
    REQUIRE(stopped.ok());
    const auto& names = stopped.value();
    CHECK(names.size() == 3);
    CHECK(position(names, kGrandchild) < position(names, kChildA));  // a dependent before what it depends on
    CHECK(position(names, kChildA) < static_cast<std::ptrdiff_t>(names.size()));
    CHECK(position(names, kChildB) < static_cast<std::ptrdiff_t>(names.size()));
    CHECK(position(names, kIdle) == static_cast<std::ptrdiff_t>(names.size()));  // it was not running
    for (const auto& name : {kParent, kChildA, kChildB, kGrandchild, kIdle}) {
        INFO(name);
        CHECK(state_of(name) == SERVICE_STOPPED);
    }
}

TEST_CASE("the active dependents are found through the registry, transitively and in stop order", "[scm]") {
    install_lab_services();
    stop_all_lab_services();
    for (const auto& name : {kParent, kChildA, kGrandchild}) start_directly(name);

    auto dependents = certheal::win::active_dependents_in_stop_order(kParent);

    REQUIRE(dependents.ok());
    CHECK(dependents.value() == std::vector<std::string>{kGrandchild, kChildA});
    auto dependencies = certheal::win::service_dependencies(kGrandchild);
    REQUIRE(dependencies.ok());
    CHECK(dependencies.value() == std::vector<std::string>{"certheallabchilda"});
}

TEST_CASE("starting a service starts what it depends on first, and nothing else", "[scm]") {
    install_lab_services();
    stop_all_lab_services();

    ScmServiceManager manager;
    auto started = manager.start_service(kGrandchild, 60s, {});

    INFO((started ? std::string() : started.error().message));
    REQUIRE(started.ok());
    for (const auto& name : {kParent, kChildA, kGrandchild}) {
        INFO(name);
        CHECK(state_of(name) == SERVICE_RUNNING);
    }
    CHECK(state_of(kChildB) == SERVICE_STOPPED);
    CHECK(state_of(kIdle) == SERVICE_STOPPED);
}

TEST_CASE("stopping a stopped service and starting a running one both succeed", "[scm]") {
    install_lab_services();
    stop_all_lab_services();
    ScmServiceManager manager;

    auto stopped = manager.stop_service(kParent, true, 30s, {});
    REQUIRE(stopped.ok());
    CHECK(stopped.value().empty());

    start_directly(kParent);
    auto started = manager.start_service(kParent, 30s, {});
    REQUIRE(started.ok());
    CHECK(state_of(kParent) == SERVICE_RUNNING);
}

TEST_CASE("a service that does not exist is a failure with Win32 error 1060 and the system's words", "[scm]") {
    ScmServiceManager manager;
    const std::string missing = "CertHealLabNoSuchService";

    auto stopped = manager.stop_service(missing, true, 30s, {});
    REQUIRE_FALSE(stopped.ok());
    CHECK(stopped.error().code == std::error_code(ERROR_SERVICE_DOES_NOT_EXIST, std::system_category()));
    CHECK_THAT(stopped.error().message, Catch::Contains("\"" + missing + "\""));
    CHECK_THAT(stopped.error().message, Catch::Contains(certheal::win::system_message(ERROR_SERVICE_DOES_NOT_EXIST)));
    CHECK_THAT(stopped.error().message, Catch::Contains("1060"));

    auto started = manager.start_service(missing, 30s, {});
    REQUIRE_FALSE(started.ok());
    CHECK(started.error().code.value() == ERROR_SERVICE_DOES_NOT_EXIST);
    CHECK_THAT(started.error().message, Catch::Contains("\"" + missing + "\""));
}

TEST_CASE("a service that stops slower than the step timeout is a timeout failure that names it", "[scm]") {
    install_lab_services();
    stop_all_lab_services();
    start_directly(kSlow);
    ScmServiceManager manager;

    auto stopped = manager.stop_service(kSlow, false, 2s, {});

    REQUIRE_FALSE(stopped.ok());
    CHECK(stopped.error().code == std::error_code(ERROR_TIMEOUT, std::system_category()));
    CHECK_THAT(stopped.error().message,
               Catch::Contains("\"" + kSlow + "\" did not stop within " + certheal::format_duration(2s)));
    await_state(kSlow, SERVICE_STOPPED);  // the one STOP that was sent still takes effect
}

TEST_CASE("a stop request cuts the wait for a stopping service short", "[scm]") {
    install_lab_services();
    stop_all_lab_services();
    start_directly(kSlow);
    ScmServiceManager manager;
    std::stop_source certheal_stopping;
    certheal_stopping.request_stop();

    const auto began = std::chrono::steady_clock::now();
    auto stopped = manager.stop_service(kSlow, false, 60s, certheal_stopping.get_token());

    REQUIRE_FALSE(stopped.ok());
    CHECK(stopped.error().code.value() == ERROR_CANCELLED);
    CHECK(std::chrono::steady_clock::now() - began < 3s);
    await_state(kSlow, SERVICE_STOPPED);
}
