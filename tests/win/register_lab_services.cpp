// Registers and starts the lab services of the Wine end-to-end test (tests/win/e2e-wine.sh):
// a parent and two dependents shaped like IIS 6 (IISADMIN with W3SVC and FTP depending on it).
//   register_lab_services.exe <certheal_lab_service.exe>
// Wine's `sc create ... depend=` does not set dependencies; CreateServiceW's lpDependencies does
// (it writes DependOnService, where certheal's ScmServiceManager reads them back).
// Exit code 0 when all three services are RUNNING, 1 otherwise; every step is printed.

#include <windows.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

namespace {

struct ServiceHandle {
    SC_HANDLE handle = nullptr;
    explicit ServiceHandle(SC_HANDLE h) : handle(h) {}
    ServiceHandle(const ServiceHandle&) = delete;
    ServiceHandle& operator=(const ServiceHandle&) = delete;
    ~ServiceHandle() {
        if (handle != nullptr) ::CloseServiceHandle(handle);
    }
    explicit operator bool() const { return handle != nullptr; }
};

struct LabService {
    const wchar_t* name;
    const wchar_t* depends_on;  // nullptr or one service name
};

constexpr LabService kServices[] = {
    {L"LabIISAdmin", nullptr},
    {L"LabW3SVC", L"LabIISAdmin"},
    {L"LabFTP", L"LabIISAdmin"},
};

// A Unix path from the test script becomes the Z: path that Wine shows for it.
std::wstring windows_path(std::wstring path) {
    if (!path.empty() && path[0] == L'/') {
        for (auto& c : path) {
            if (c == L'/') c = L'\\';
        }
        path = L"Z:" + path;
    }
    return path;
}

bool create(SC_HANDLE manager, const LabService& service, const std::wstring& program) {
    const std::wstring command_line = L"\"" + program + L"\" " + service.name;
    // lpDependencies is a double-NUL-terminated list of names.
    std::wstring dependencies;
    if (service.depends_on != nullptr) dependencies = std::wstring(service.depends_on) + L'\0';
    dependencies += L'\0';
    ServiceHandle created(::CreateServiceW(manager, service.name, service.name, SERVICE_ALL_ACCESS,
                                           SERVICE_WIN32_OWN_PROCESS, SERVICE_DEMAND_START, SERVICE_ERROR_NORMAL,
                                           command_line.c_str(), nullptr, nullptr, dependencies.c_str(), nullptr,
                                           nullptr));
    if (!created) {
        std::fwprintf(stderr, L"register_lab_services: creating the service %ls failed with error %lu\n",
                      service.name, ::GetLastError());
        return false;
    }
    std::wprintf(L"created %ls (depends on %ls): %ls\n", service.name,
                 service.depends_on != nullptr ? service.depends_on : L"nothing", command_line.c_str());
    return true;
}

bool start_and_wait(SC_HANDLE manager, const wchar_t* name) {
    ServiceHandle service(::OpenServiceW(manager, name, SERVICE_START | SERVICE_QUERY_STATUS));
    if (!service || !::StartServiceW(service.handle, 0, nullptr)) {
        std::fwprintf(stderr, L"register_lab_services: starting the service %ls failed with error %lu\n", name,
                      ::GetLastError());
        return false;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    SERVICE_STATUS_PROCESS status{};
    DWORD needed = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        if (::QueryServiceStatusEx(service.handle, SC_STATUS_PROCESS_INFO, reinterpret_cast<BYTE*>(&status),
                                   sizeof(status), &needed) &&
            status.dwCurrentState == SERVICE_RUNNING) {
            std::wprintf(L"started %ls (process %lu)\n", name, status.dwProcessId);
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::fwprintf(stderr, L"register_lab_services: the service %ls was not RUNNING 30 s after its start (state %lu)\n",
                  name, status.dwCurrentState);
    return false;
}

}  // namespace

int wmain(int argc, wchar_t** argv) {
    if (argc != 2) {
        std::fwprintf(stderr, L"usage: register_lab_services.exe <certheal_lab_service.exe>\n");
        return 2;
    }
    const std::wstring program = windows_path(argv[1]);
    ServiceHandle manager(::OpenSCManagerW(nullptr, nullptr, SC_MANAGER_ALL_ACCESS));
    if (!manager) {
        std::fwprintf(stderr, L"register_lab_services: OpenSCManagerW failed with error %lu\n", ::GetLastError());
        return 1;
    }
    for (const auto& service : kServices) {
        if (!create(manager.handle, service, program)) return 1;
    }
    // Wine's StartServiceW does not start dependencies: start the parent first.
    for (const auto& service : kServices) {
        if (!start_and_wait(manager.handle, service.name)) return 1;
    }
    std::fflush(stdout);
    return 0;
}
