// certheal as a Windows service: the ScmHost state machine on a recorder, then certheal.exe
// itself started, reloaded and stopped by Wine's Service Control Manager (hidden tag: run with
// "[winhost]"; run-wine-tests.sh keeps the prefix's wineserver alive).

#include <windows.h>
#include <aclapi.h>

#include <algorithm>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "core/base/time_format.hpp"
#include "service/win/service_host.hpp"
#include "file_support.hpp"
#include "win_service_support.hpp"

using namespace winhost_test;
using certheal::platform::ControlRequest;
using certheal::win::ScmHost;

namespace {

struct Recorder {
    std::mutex mutex;
    std::vector<SERVICE_STATUS> statuses;
    ScmHost::StatusReporter reporter() {
        return [this](const SERVICE_STATUS& status) {
            std::lock_guard lock(mutex);
            statuses.push_back(status);
        };
    }
    std::vector<SERVICE_STATUS> snapshot() {
        std::lock_guard lock(mutex);
        return statuses;
    }
};

using Requests = std::vector<std::pair<ControlRequest, std::string>>;

auto recording(Requests& requests) {
    return [&requests](ControlRequest request, std::string reason) { requests.emplace_back(request, std::move(reason)); };
}

// --- certheal.exe as a process and as a service -----------------------------------------------

struct ProcessOutcome {
    DWORD exit_code = 0;
    std::string output;
    double seconds = 0;
};

// Runs `command`, its stdout and stderr into a file (never a pipe: it may start services.exe).
ProcessOutcome run_process(std::wstring command, const std::filesystem::path& output_file) {
    SECURITY_ATTRIBUTES inheritable{sizeof(inheritable), nullptr, TRUE};
    certheal::win::UniqueHandle output(::CreateFileW(output_file.c_str(), GENERIC_WRITE, FILE_SHARE_READ,
                                                     &inheritable, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr));
    REQUIRE(output);
    STARTUPINFOW startup{};
    startup.cb = sizeof(startup);
    startup.dwFlags = STARTF_USESTDHANDLES;
    startup.hStdInput = nullptr;
    startup.hStdOutput = output.get();
    startup.hStdError = output.get();
    PROCESS_INFORMATION process{};
    const auto started = std::chrono::steady_clock::now();
    REQUIRE(::CreateProcessW(nullptr, command.data(), nullptr, nullptr, TRUE, 0, nullptr, nullptr, &startup,
                             &process));
    certheal::win::UniqueHandle process_handle(process.hProcess), thread_handle(process.hThread);
    if (::WaitForSingleObject(process.hProcess, 60'000) != WAIT_OBJECT_0) {
        ::TerminateProcess(process.hProcess, 99);
        FAIL("the command did not end within 60 s: " << certheal::win::to_utf8(command));
    }
    ProcessOutcome outcome;
    ::GetExitCodeProcess(process.hProcess, &outcome.exit_code);
    outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    output.reset();
    outcome.output = read_file(output_file);
    return outcome;
}

std::wstring quoted(const std::filesystem::path& path) { return L"\"" + path.wstring() + L"\""; }

ProcessOutcome certheal_command(const std::wstring& arguments, const std::filesystem::path& output_file) {
    return run_process(quoted(certheal_exe()) + L" " + arguments, output_file);
}

// A config that probes a closed loopback port, repairs nothing and journals into `state_dir`.
std::string service_config(const std::filesystem::path& state_dir, const std::string& interval,
                           bool allow_insecure_acl) {
    nlohmann::json config = {
        {"service", {{"state_dir", certheal::win::to_utf8(state_dir.wstring())},
                     {"allow_insecure_config_acl", allow_insecure_acl}}},
        {"defaults", {{"interval", interval}, {"timeout", "2s"}}},
        {"sites", {{{"name", "closed-port"}, {"url", "https://127.0.0.1:9/"}}}},
        {"remediation", {{"enabled", false}}},
    };
    return config.dump(2);
}


bool start_service(const std::wstring& name) {
    ScHandle manager = open_manager();
    ScHandle service(::OpenServiceW(manager.get(), name.c_str(), SERVICE_START));
    REQUIRE(service);
    if (::StartServiceW(service.get(), 0, nullptr)) return true;
    UNSCOPED_INFO("StartServiceW failed: " << ::GetLastError());
    return false;
}

bool control(const std::wstring& name, DWORD code) {
    ScHandle manager = open_manager();
    ScHandle service(::OpenServiceW(manager.get(), name.c_str(), SERVICE_STOP | SERVICE_PAUSE_CONTINUE));
    REQUIRE(service);
    SERVICE_STATUS status{};
    if (::ControlService(service.get(), code, &status)) return true;
    UNSCOPED_INFO("ControlService(" << code << ") failed: " << ::GetLastError());
    return false;
}

std::vector<std::string> journal_events(const std::filesystem::path& state_dir) {
    std::vector<std::string> events;
    std::istringstream lines(read_file(state_dir / L"journal.jsonl"));
    for (std::string line; std::getline(lines, line);) {
        if (line.empty()) continue;
        const auto record = nlohmann::json::parse(line, nullptr, false);
        if (record.is_object() && record.contains("event")) events.push_back(record["event"].get<std::string>());
    }
    return events;
}

bool journal_has(const std::filesystem::path& state_dir, const std::string& event) {
    return await_file(state_dir / L"journal.jsonl", [&](const std::string&) {
        const auto events = journal_events(state_dir);
        return std::find(events.begin(), events.end(), event) != events.end();
    });
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

// --- ScmHost on a recorder ----------------------------------------------------------------------

TEST_CASE("a stop the SCM sends before the monitor listens is delivered when the monitor attaches",
          "[.][winhost][service_host]") {
    Recorder recorder;
    ScmHost host(recorder.reporter());
    CHECK(host.on_control(SERVICE_CONTROL_STOP) == NO_ERROR);

    boost::asio::io_context io;
    Requests requests;
    auto attachment = host.attach(io, recording(requests));
    CHECK(requests.empty());  // delivered through the io_context, not from attach()
    io.poll();
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].first == ControlRequest::stop);
    CHECK(requests[0].second == "SCM STOP");
}

TEST_CASE("the control handler only queues requests for the io_context and maps each control",
          "[.][winhost][service_host]") {
    Recorder recorder;
    ScmHost host(recorder.reporter());
    boost::asio::io_context io;
    Requests requests;
    auto attachment = host.attach(io, recording(requests));

    CHECK(host.on_control(SERVICE_CONTROL_PARAMCHANGE) == NO_ERROR);
    CHECK(host.on_control(SERVICE_CONTROL_SHUTDOWN) == NO_ERROR);
    CHECK(host.on_control(SERVICE_CONTROL_PRESHUTDOWN) == NO_ERROR);
    CHECK(host.on_control(SERVICE_CONTROL_STOP) == NO_ERROR);
    CHECK(host.on_control(SERVICE_CONTROL_INTERROGATE) == NO_ERROR);
    CHECK(host.on_control(SERVICE_CONTROL_PAUSE) == ERROR_CALL_NOT_IMPLEMENTED);
    CHECK(requests.empty());

    io.poll();
    REQUIRE(requests.size() == 4);
    CHECK(requests[0] == std::pair{ControlRequest::reload, std::string("SCM PARAMCHANGE")});
    CHECK(requests[1].first == ControlRequest::stop);
    CHECK_THAT(requests[1].second, Catch::StartsWith("SCM SHUTDOWN"));
    CHECK(requests[2].first == ControlRequest::stop);
    CHECK_THAT(requests[2].second, Catch::StartsWith("SCM PRESHUTDOWN"));
    CHECK(requests[3] == std::pair{ControlRequest::stop, std::string("SCM STOP")});
}

TEST_CASE("controls after the monitor let go are kept, not posted to its io_context", "[.][winhost][service_host]") {
    Recorder recorder;
    ScmHost host(recorder.reporter());
    Requests requests;
    {
        boost::asio::io_context io;
        auto attachment = host.attach(io, recording(requests));
        attachment.reset();
        CHECK(host.on_control(SERVICE_CONTROL_STOP) == NO_ERROR);
        io.poll();
        CHECK(requests.empty());
    }
    boost::asio::io_context next;
    auto attachment = host.attach(next, recording(requests));
    next.poll();
    CHECK(requests.size() == 1);
}

TEST_CASE("the host reports start pending with checkpoints, then running with STOP, SHUTDOWN, PRESHUTDOWN and "
          "PARAMCHANGE accepted",
          "[.][winhost][service_host]") {
    Recorder recorder;
    ScmHost host(recorder.reporter());
    host.starting();
    host.starting();
    host.running();

    const auto statuses = recorder.snapshot();
    REQUIRE(statuses.size() == 3);
    CHECK(statuses[0].dwCurrentState == SERVICE_START_PENDING);
    CHECK(statuses[0].dwCheckPoint == 1);
    CHECK(statuses[0].dwWaitHint > 0);
    CHECK(statuses[0].dwControlsAccepted == 0);
    CHECK(statuses[1].dwCheckPoint == 2);
    CHECK(statuses[2].dwCurrentState == SERVICE_RUNNING);
    CHECK(statuses[2].dwCheckPoint == 0);
    CHECK(statuses[2].dwControlsAccepted == (SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN |
                                             SERVICE_ACCEPT_PRESHUTDOWN | SERVICE_ACCEPT_PARAMCHANGE));
    CHECK(statuses[2].dwServiceType == SERVICE_WIN32_OWN_PROCESS);
}

TEST_CASE("while stopping, the host keeps bumping the checkpoint with a wait hint until it reports stopped",
          "[.][winhost][service_host]") {
    Recorder recorder;
    ScmHost host(recorder.reporter(), std::chrono::milliseconds(20));
    host.starting();
    host.running();
    host.stopping();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // a repair step still finishing
    host.running();  // a late running() must not undo the stop
    host.stopped(0);
    const auto count_at_stop = recorder.snapshot().size();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));

    const auto statuses = recorder.snapshot();
    CHECK(statuses.size() == count_at_stop);  // the ticker ended with STOPPED
    std::vector<DWORD> checkpoints;
    for (const auto& status : statuses) {
        if (status.dwCurrentState != SERVICE_STOP_PENDING) continue;
        checkpoints.push_back(status.dwCheckPoint);
        CHECK(status.dwWaitHint == ScmHost::kStopWaitHintMs);
        CHECK(status.dwControlsAccepted == 0);
    }
    REQUIRE(checkpoints.size() >= 3);
    for (std::size_t index = 1; index < checkpoints.size(); ++index) CHECK(checkpoints[index] == checkpoints[index - 1] + 1);
    CHECK(statuses.back().dwCurrentState == SERVICE_STOPPED);
    CHECK(statuses.back().dwWin32ExitCode == NO_ERROR);
}

TEST_CASE("an invalid config stops the service with service-specific exit code 2", "[.][winhost][service_host]") {
    Recorder recorder;
    ScmHost host(recorder.reporter());
    host.starting();
    host.stopped(2);
    const auto last = recorder.snapshot().back();
    CHECK(last.dwCurrentState == SERVICE_STOPPED);
    CHECK(last.dwWin32ExitCode == ERROR_SERVICE_SPECIFIC_ERROR);
    CHECK(last.dwServiceSpecificExitCode == 2);
}

// --- certheal.exe under Wine's SCM ----------------------------------------------------------------

TEST_CASE("certheal run outside the SCM runs in the console", "[.][winhost][service]") {
    const auto folder = fresh_folder(L"certheal-console-fallback");
    write_file(folder / L"bad.json", R"({"sites": []})");
    const auto outcome = certheal_command(L"run --config " + quoted(folder / L"bad.json"), folder / L"output.txt");
    INFO(outcome.output);
    CHECK(outcome.exit_code == 2);  // the console path validated the config and said why it did not start
    CHECK_THAT(outcome.output, Catch::Contains("/sites"));
    WARN("certheal run outside the SCM fell back to the console in " << outcome.seconds << " s");
}

TEST_CASE("certheal as a Wine service refuses a config Users can write, then runs it when allowed; it reloads on "
          "PARAMCHANGE and stops on STOP",
          "[.][winhost][service]") {
    const auto folder = fresh_folder(L"certheal-service");
    const auto state_dir = folder / L"state";
    const auto config = folder / L"certheal.json";
    write_file(config, service_config(state_dir, "1h", false));
    win_test::let_everyone_write(config);

    certheal_command(L"uninstall", folder / L"uninstall-before.txt");
    const auto installed = certheal_command(L"install --config " + quoted(config), folder / L"install.txt");
    INFO(installed.output);
    REQUIRE(installed.exit_code == 0);
    CHECK_THAT(installed.output, Catch::Contains("Created the service certheal"));

    {  // refused: Everyone may write the config
        const auto started = std::chrono::steady_clock::now();
        REQUIRE(start_service(L"certheal"));
        const auto stopped = await_state(L"certheal", SERVICE_STOPPED);
        WARN("the refused start took " << seconds_since(started) << " s to reach STOPPED");
        CHECK(stopped.dwWin32ExitCode == ERROR_SERVICE_SPECIFIC_ERROR);
        CHECK(stopped.dwServiceSpecificExitCode == 2);
        CHECK_FALSE(std::filesystem::exists(state_dir / L"journal.jsonl"));  // the monitor never ran
    }

    write_file(config, service_config(state_dir, "1h", true));
    {
        const auto started = std::chrono::steady_clock::now();
        REQUIRE(start_service(L"certheal"));
        const auto running = await_state(L"certheal", SERVICE_RUNNING);
        WARN("StartServiceW to RUNNING took " << seconds_since(started) << " s");
        CHECK((running.dwControlsAccepted & SERVICE_ACCEPT_PARAMCHANGE) != 0);
        CHECK((running.dwControlsAccepted & SERVICE_ACCEPT_STOP) != 0);
        CHECK(journal_has(state_dir, "service_started"));
    }
    {
        write_file(config, service_config(state_dir, "30m", true));
        const auto sent = std::chrono::steady_clock::now();
        REQUIRE(control(L"certheal", SERVICE_CONTROL_PARAMCHANGE));
        CHECK(journal_has(state_dir, "config_reloaded"));
        WARN("PARAMCHANGE to config_reloaded in the journal took " << seconds_since(sent) << " s");
        CHECK(status_of(L"certheal").dwCurrentState == SERVICE_RUNNING);
    }
    {
        const auto sent = std::chrono::steady_clock::now();
        REQUIRE(control(L"certheal", SERVICE_CONTROL_STOP));
        const auto stopped = await_state(L"certheal", SERVICE_STOPPED);
        WARN("STOP to STOPPED took " << seconds_since(sent) << " s");
        CHECK(stopped.dwWin32ExitCode == NO_ERROR);
        const auto events = journal_events(state_dir);
        REQUIRE_FALSE(events.empty());
        CHECK(events.back() == "service_stopped");
    }

    const auto removed = certheal_command(L"uninstall", folder / L"uninstall.txt");
    INFO(removed.output);
    CHECK(removed.exit_code == 0);
    CHECK_FALSE(service_exists(L"certheal"));
    CHECK(std::filesystem::exists(config));
}

// --- operator controls against certheal.exe under Wine's SCM ([operator]) -------------------------
// `certheal resume` (SCM control 200), `certheal status` (the SCM's pid) and `certheal repair`
// under the host-wide named mutex Global\certheal-repair.

namespace {

std::vector<nlohmann::json> journal_records(const std::filesystem::path& state_dir, const std::string& event) {
    std::vector<nlohmann::json> found;
    std::istringstream lines(read_file(state_dir / L"journal.jsonl"));
    for (std::string line; std::getline(lines, line);) {
        const auto record = nlohmann::json::parse(line, nullptr, false);
        if (record.is_object() && record.value("event", "") == event) found.push_back(record);
    }
    return found;
}

// A saved history as the service leaves it after spending its budget: three attempts a minute
// ago and the circuit breaker open since then (RepairPolicy's state format, version 1).
void write_open_circuit_state(const std::filesystem::path& state_dir) {
    std::filesystem::create_directories(state_dir);
    const auto a_minute_ago = certheal::format_time_utc(std::chrono::system_clock::now() - std::chrono::minutes(1));
    const nlohmann::json state = {
        {"version", 1},
        {"attempts", {a_minute_ago, a_minute_ago, a_minute_ago}},
        {"last_repair_end", a_minute_ago},
        {"circuit", {{"opened_at", a_minute_ago}, {"incident", "20261129T130000-1"}}},
    };
    write_file(state_dir / L"state.json", state.dump(2));
}

nlohmann::json saved_state(const std::filesystem::path& state_dir) {
    return nlohmann::json::parse(read_file(state_dir / L"state.json"), nullptr, false);
}

}  // namespace

TEST_CASE("certheal resume sends SCM control 200 to the running service, which closes its circuit; certheal status "
          "names the service's pid",
          "[.][operator]") {
    const auto folder = fresh_folder(L"certheal-operator");
    const auto state_dir = folder / L"state";
    const auto config = folder / L"certheal.json";
    write_file(config, service_config(state_dir, "1h", true));
    write_open_circuit_state(state_dir);

    certheal_command(L"uninstall", folder / L"uninstall-before.txt");
    const auto installed = certheal_command(L"install --config " + quoted(config), folder / L"install.txt");
    INFO(installed.output);
    REQUIRE(installed.exit_code == 0);
    REQUIRE(start_service(L"certheal"));
    const auto running = await_state(L"certheal", SERVICE_RUNNING);
    REQUIRE(journal_has(state_dir, "service_started"));
    REQUIRE(running.dwProcessId != 0);
    REQUIRE(saved_state(state_dir)["circuit"].is_object());  // the service kept the open circuit it loaded

    {  // (b) status: the SCM's view of the service, with its pid
        const auto shown = certheal_command(L"status --config " + quoted(config), folder / L"status.txt");
        INFO(shown.output);
        // Its one site is a closed port: unhealthy (1) once probed, "cannot tell" (3) before.
        CHECK((shown.exit_code == 1 || shown.exit_code == 3));
        CHECK_THAT(shown.output, Catch::Contains("certheal:     running (pid " + std::to_string(running.dwProcessId) +
                                                 ", found through the Service Control Manager)"));
        const auto as_json = certheal_command(L"status --json --config " + quoted(config), folder / L"status.json.txt");
        INFO(as_json.output);
        const auto report = nlohmann::json::parse(as_json.output, nullptr, false);
        REQUIRE(report.is_object());
        CHECK(as_json.exit_code == (report.value("health", "") == "unhealthy" ? 1 : 3));
        CHECK(report["service"]["running"] == true);
        CHECK(report["service"]["pid"] == static_cast<long long>(running.dwProcessId));
        WARN("certheal status took " << shown.seconds << " s");
    }
    {  // (a) resume: control 200, circuit_closed (operator), state.json's circuit null
        const auto resumed = certheal_command(L"resume --config " + quoted(config), folder / L"resume.txt");
        INFO(resumed.output);
        CHECK(resumed.exit_code == 0);
        CHECK_THAT(resumed.output, Catch::Contains("The running certheal (pid " + std::to_string(running.dwProcessId) +
                                                   ", found through the Service Control Manager)"));
        REQUIRE(journal_has(state_dir, "circuit_closed"));
        const auto closed = journal_records(state_dir, "circuit_closed");
        REQUIRE(closed.size() == 1);
        CHECK(closed[0].value("reason", "") == "operator");
        CHECK_THAT(closed[0].value("requested_by", ""), Catch::Contains("SCM control 200"));
        const auto state = saved_state(state_dir);
        REQUIRE(state.is_object());
        CHECK(state["circuit"].is_null());
        CHECK(state["attempts"].empty());
        CHECK(status_of(L"certheal").dwCurrentState == SERVICE_RUNNING);
        WARN("certheal resume to a confirmed circuit_closed took " << resumed.seconds << " s");
    }

    REQUIRE(control(L"certheal", SERVICE_CONTROL_STOP));
    await_state(L"certheal", SERVICE_STOPPED);
    {  // without the service: status says so, resume falls back to the state file under the lock
        const auto shown = certheal_command(L"status --config " + quoted(config), folder / L"status-stopped.txt");
        INFO(shown.output);
        CHECK_THAT(shown.output, Catch::Contains("certheal:     not running"));
        CHECK(shown.exit_code == 3);  // cannot tell without the service
    }
    const auto removed = certheal_command(L"uninstall", folder / L"uninstall.txt");
    CHECK(removed.exit_code == 0);
}

TEST_CASE("certheal repair exits 3 while another process holds the repair lock Global\\certheal-repair, and repairs "
          "once it is released",
          "[.][operator]") {
    const auto folder = fresh_folder(L"certheal-repair-lock");
    const auto state_dir = folder / L"state";
    const auto config = folder / L"certheal.json";
    write_file(config, service_config(state_dir, "1h", true));

    {
        // Held by this process, as the service holds it while it repairs.
        certheal::win::UniqueHandle held(::CreateMutexW(nullptr, TRUE, L"Global\\certheal-repair"));
        REQUIRE(held);
        const auto refused = certheal_command(L"repair --config " + quoted(config), folder / L"refused.txt");
        ::ReleaseMutex(held.get());
        INFO(refused.output);
        CHECK(refused.exit_code == 3);
        CHECK_THAT(refused.output, Catch::Contains("Another repair is running on this host"));
        CHECK(journal_records(state_dir, "repair_started").empty());
        const auto skipped = journal_records(state_dir, "repair_skipped");
        REQUIRE(skipped.size() == 1);
        CHECK(skipped[0].value("reason", "") == "busy");
        CHECK_FALSE(std::filesystem::exists(state_dir / L"state.json"));  // nothing counted
        WARN("the refused certheal repair took " << refused.seconds << " s");
    }
    {  // released (and this process no longer holds it): the repair runs, and counts
        const auto ran = certheal_command(L"repair --config " + quoted(config), folder / L"ran.txt");
        INFO(ran.output);
        CHECK_THAT(ran.output, !Catch::Contains("Another repair is running on this host"));
        CHECK(journal_records(state_dir, "repair_started").size() == 1);
        CHECK(ran.exit_code == 1);  // no steps, and the closed port is still closed
    }
}
