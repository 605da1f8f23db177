#pragma once
// Helpers shared by the Wine tests of `certheal install` and of certheal running as a service:
// the SCM read back through the raw API, never through the code under test.

#include <windows.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "file_support.hpp"
#include "service/win/handles.hpp"
#include "service/win/win_error.hpp"

namespace winhost_test {

using certheal::win::ScHandle;
using namespace std::chrono_literals;

// certheal.exe of this build, given by CMake as a Unix path: Wine shows `/` as drive Z:.
inline std::filesystem::path certheal_exe() {
    std::wstring path = certheal::win::to_utf16(CERTHEAL_EXE);
    if (!path.empty() && path[0] == L'/') {
        for (auto& c : path) {
            if (c == L'/') c = L'\\';
        }
        path = L"Z:" + path;
    }
    return std::filesystem::path(path);
}

inline ScHandle open_manager() {
    ScHandle manager(::OpenSCManagerW(nullptr, nullptr, SC_MANAGER_ALL_ACCESS));
    if (!manager) FAIL("OpenSCManagerW failed: " << ::GetLastError());
    return manager;
}

inline bool service_exists(const std::wstring& name) {
    ScHandle manager = open_manager();
    ScHandle service(::OpenServiceW(manager.get(), name.c_str(), SERVICE_QUERY_STATUS));
    return static_cast<bool>(service);
}

inline SERVICE_STATUS_PROCESS status_of(const std::wstring& name) {
    ScHandle manager = open_manager();
    ScHandle service(::OpenServiceW(manager.get(), name.c_str(), SERVICE_QUERY_STATUS));
    if (!service) FAIL("OpenServiceW failed: " << ::GetLastError());
    SERVICE_STATUS_PROCESS status{};
    DWORD needed = 0;
    if (!::QueryServiceStatusEx(service.get(), SC_STATUS_PROCESS_INFO, reinterpret_cast<BYTE*>(&status),
                                sizeof(status), &needed)) {
        FAIL("QueryServiceStatusEx failed: " << ::GetLastError());
    }
    return status;
}

inline SERVICE_STATUS_PROCESS await_state(const std::wstring& name, DWORD wanted,
                                          std::chrono::milliseconds limit = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        const auto status = status_of(name);
        if (status.dwCurrentState == wanted) return status;
        if (std::chrono::steady_clock::now() > deadline) {
            FAIL("the service did not reach state " << wanted << "; it is in state " << status.dwCurrentState);
        }
        std::this_thread::sleep_for(100ms);
    }
}

inline std::string read_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

inline void write_file(const std::filesystem::path& file, const std::string& text) {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
}

using win_test::fresh_folder;

// Polls `file` until `predicate(text)` holds.
template <class Predicate>
bool await_file(const std::filesystem::path& file, Predicate predicate, std::chrono::milliseconds limit = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (predicate(read_file(file))) return true;
        std::this_thread::sleep_for(100ms);
    }
    return predicate(read_file(file));
}

}  // namespace winhost_test
