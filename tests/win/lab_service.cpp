// A do-nothing Windows service for the SCM tests under Wine.
//   certheal_lab_service.exe <service name> [stop delay in ms]
// and a child program for the process runner tests:
//   certheal_lab_service.exe --child <stdout text> <stderr text> <exit code> <sleep ms>
// Reports RUNNING, and on STOP reports STOP_PENDING for the stop delay (with a wait hint
// and moving checkpoints, like a real service that takes its time) before STOPPED.

#include <windows.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

std::wstring g_service_name;
DWORD g_stop_delay_ms = 0;
SERVICE_STATUS_HANDLE g_status_handle = nullptr;
HANDLE g_stop_requested = nullptr;
SERVICE_STATUS g_status{};

void report(DWORD state, DWORD wait_hint_ms = 0) {
    g_status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    g_status.dwCurrentState = state;
    g_status.dwControlsAccepted = state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP : 0;
    g_status.dwWin32ExitCode = NO_ERROR;
    g_status.dwWaitHint = wait_hint_ms;
    g_status.dwCheckPoint = (state == SERVICE_RUNNING || state == SERVICE_STOPPED) ? 0 : g_status.dwCheckPoint + 1;
    ::SetServiceStatus(g_status_handle, &g_status);
}

DWORD WINAPI control_handler(DWORD control, DWORD, void*, void*) {
    switch (control) {
        case SERVICE_CONTROL_STOP:
            report(SERVICE_STOP_PENDING, g_stop_delay_ms * 2 + 1000);
            ::SetEvent(g_stop_requested);
            return NO_ERROR;
        case SERVICE_CONTROL_INTERROGATE:
            return NO_ERROR;
        default:
            return ERROR_CALL_NOT_IMPLEMENTED;
    }
}

void WINAPI service_main(DWORD, wchar_t**) {
    g_status_handle = ::RegisterServiceCtrlHandlerExW(g_service_name.c_str(), control_handler, nullptr);
    if (g_status_handle == nullptr) return;
    report(SERVICE_START_PENDING, 3000);
    report(SERVICE_RUNNING);
    ::WaitForSingleObject(g_stop_requested, INFINITE);
    for (DWORD waited = 0; waited < g_stop_delay_ms; waited += 250) {
        ::Sleep(250);
        report(SERVICE_STOP_PENDING, g_stop_delay_ms * 2 + 1000);
    }
    report(SERVICE_STOPPED);
}

}  // namespace

int run_as_child(int argc, wchar_t** argv) {
    if (argc < 6) return 2;
    std::fputws(argv[2], stdout);
    std::fflush(stdout);
    std::fputws(argv[3], stderr);
    std::fflush(stderr);
    ::Sleep(static_cast<DWORD>(std::wcstoul(argv[5], nullptr, 10)));
    return static_cast<int>(std::wcstol(argv[4], nullptr, 10));
}

int wmain(int argc, wchar_t** argv) {
    if (argc < 2) return 2;
    if (std::wstring(argv[1]) == L"--child") return run_as_child(argc, argv);
    g_service_name = argv[1];
    if (argc >= 3) g_stop_delay_ms = static_cast<DWORD>(std::wcstoul(argv[2], nullptr, 10));
    g_stop_requested = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);

    SERVICE_TABLE_ENTRYW table[] = {{g_service_name.data(), service_main}, {nullptr, nullptr}};
    return ::StartServiceCtrlDispatcherW(table) ? 0 : static_cast<int>(::GetLastError());
}
