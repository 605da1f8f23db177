// A do-nothing Windows service for the SCM tests under Wine.
//   certheal_lab_service.exe <service name> [stop delay in ms]
// and a child program for the process runner tests:
//   certheal_lab_service.exe --child <stdout text> <stderr text> <exit code> <sleep ms>
//   certheal_lab_service.exe --print-environment     its environment block, one NAME=value a line
//   certheal_lab_service.exe --print-directory       its working directory
//   certheal_lab_service.exe --spawn-child <child ms> [<own ms>]  starts a detached child of its
//       own that sleeps <child ms> (in a new process group, without a console), prints its pid,
//       then sleeps <own ms> (default: as long as the child) and exits
//   certheal_lab_service.exe --breakaway             tries to start a child outside its job:
//       prints "refused <Win32 error>" (exit 0) or "allowed" (exit 1)
// Reports RUNNING, and on STOP reports STOP_PENDING for the stop delay (with a wait hint
// and moving checkpoints, like a real service that takes its time) before STOPPED.

#include <windows.h>

#include <cstdio>
#include <cstdlib>
#include <cwchar>
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

void print_utf8(const std::wstring& text) {
    const int size = ::WideCharToMultiByte(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), nullptr, 0,
                                           nullptr, nullptr);
    std::string utf8(static_cast<size_t>(size), '\0');
    ::WideCharToMultiByte(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), utf8.data(), size, nullptr, nullptr);
    std::fwrite(utf8.data(), 1, utf8.size(), stdout);
}

int print_environment() {
    wchar_t* block = ::GetEnvironmentStringsW();
    if (block == nullptr) return 3;
    for (const wchar_t* entry = block; *entry != L'\0'; entry += std::wcslen(entry) + 1) print_utf8(std::wstring(entry) + L"\n");
    ::FreeEnvironmentStringsW(block);
    std::fflush(stdout);
    return 0;
}

int print_directory() {
    wchar_t folder[MAX_PATH] = {};
    ::GetCurrentDirectoryW(MAX_PATH, folder);
    print_utf8(folder);
    std::fflush(stdout);
    return 0;
}

std::wstring own_path() {
    wchar_t path[MAX_PATH] = {};
    ::GetModuleFileNameW(nullptr, path, MAX_PATH);
    return path;
}

// Starts `own_path() --child "" "" 0 <sleep ms>` with `flags`; false (and GetLastError()) when refused.
bool start_sleeping_child(const std::wstring& sleep_ms, DWORD flags, PROCESS_INFORMATION& created) {
    std::wstring command_line = L"\"" + own_path() + L"\" --child \"\" \"\" 0 " + sleep_ms;
    STARTUPINFOW startup{};
    startup.cb = sizeof(startup);
    return ::CreateProcessW(own_path().c_str(), command_line.data(), nullptr, nullptr, FALSE, flags, nullptr, nullptr,
                            &startup, &created) != FALSE;
}

int spawn_child(const wchar_t* sleep_ms, const wchar_t* own_sleep_ms) {
    PROCESS_INFORMATION created{};
    if (!start_sleeping_child(sleep_ms, CREATE_NEW_PROCESS_GROUP | DETACHED_PROCESS, created)) return 3;
    std::printf("%lu\n", static_cast<unsigned long>(created.dwProcessId));
    std::fflush(stdout);
    ::CloseHandle(created.hThread);
    ::CloseHandle(created.hProcess);
    ::Sleep(static_cast<DWORD>(std::wcstoul(own_sleep_ms, nullptr, 10)));
    return 0;
}

int try_breakaway() {
    PROCESS_INFORMATION created{};
    if (!start_sleeping_child(L"0", CREATE_BREAKAWAY_FROM_JOB | DETACHED_PROCESS, created)) {
        std::printf("refused %lu\n", static_cast<unsigned long>(::GetLastError()));
        return 0;
    }
    std::printf("allowed\n");
    ::WaitForSingleObject(created.hProcess, INFINITE);
    ::CloseHandle(created.hThread);
    ::CloseHandle(created.hProcess);
    return 1;
}

int wmain(int argc, wchar_t** argv) {
    if (argc < 2) return 2;
    const std::wstring mode = argv[1];
    if (mode == L"--child") return run_as_child(argc, argv);
    if (mode == L"--print-environment") return print_environment();
    if (mode == L"--print-directory") return print_directory();
    if (mode == L"--spawn-child" && argc >= 3) return spawn_child(argv[2], argc >= 4 ? argv[3] : argv[2]);
    if (mode == L"--breakaway") return try_breakaway();
    g_service_name = argv[1];
    if (argc >= 3) g_stop_delay_ms = static_cast<DWORD>(std::wcstoul(argv[2], nullptr, 10));
    g_stop_requested = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);

    SERVICE_TABLE_ENTRYW table[] = {{g_service_name.data(), service_main}, {nullptr, nullptr}};
    return ::StartServiceCtrlDispatcherW(table) ? 0 : static_cast<int>(::GetLastError());
}
