#include "service/win/install.hpp"

#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "service/exit_code.hpp"
#include "service/platform.hpp"
#include "service/win/handles.hpp"
#include "service/win/win_error.hpp"

namespace certheal::win {
namespace {

struct LocalFreeDeleter {
    void operator()(void* memory) const noexcept { ::LocalFree(memory); }
};

std::string shown(const std::filesystem::path& path) { return to_utf8(path.wstring()); }
std::string shown(const std::wstring& text) { return to_utf8(text); }

// "<what> failed: <system text> (Win32 error N)." plus what to do when it is a matter of rights.
std::string explain(DWORD code, const std::string& what) {
    std::string text = win32_failure(code, what).message;
    if (code == ERROR_ACCESS_DENIED) text += " Run it from an elevated prompt (Run as administrator).";
    return text;
}

std::filesystem::path this_executable() {
    std::wstring buffer(MAX_PATH, L'\0');
    for (;;) {
        const DWORD length = ::GetModuleFileNameW(nullptr, buffer.data(), static_cast<DWORD>(buffer.size()));
        if (length < buffer.size()) {
            buffer.resize(length);
            return buffer;
        }
        buffer.resize(buffer.size() * 2);
    }
}

// --- the service ---------------------------------------------------------------------------------

// Settings beyond CreateServiceW. Windows supports all of them; Wine rejects some (124) and
// stores no recovery actions, so each is a warning naming what was not applied.
void configure_service_extras(SC_HANDLE service, const InstallPlan& plan, std::ostream& out, std::ostream& err) {
    const std::string name = shown(plan.service_name);

    SERVICE_DESCRIPTIONW description{const_cast<wchar_t*>(plan.description.c_str())};
    if (::ChangeServiceConfig2W(service, SERVICE_CONFIG_DESCRIPTION, &description)) {
        out << "Set the description of the service " << name << ".\n";
    } else {
        err << "WARNING: " << explain(::GetLastError(), "setting the description of the service " + name) << '\n';
    }

    SERVICE_DELAYED_AUTO_START_INFO delayed{TRUE};
    if (::ChangeServiceConfig2W(service, SERVICE_CONFIG_DELAYED_AUTO_START_INFO, &delayed)) {
        out << "Set the service " << name << " to start automatically, delayed until the boot has settled.\n";
    } else {
        err << "WARNING: the service " << name << " will start automatically but not delayed: "
            << explain(::GetLastError(), "setting delayed auto-start") << '\n';
    }

    // Restart after 1 min, 1 min, 5 min; forget the failures after a day without one.
    SC_ACTION actions[] = {{SC_ACTION_RESTART, 60'000}, {SC_ACTION_RESTART, 60'000}, {SC_ACTION_RESTART, 300'000}};
    SERVICE_FAILURE_ACTIONSW failure_actions{};
    failure_actions.dwResetPeriod = 24 * 60 * 60;
    failure_actions.cActions = static_cast<DWORD>(std::size(actions));
    failure_actions.lpsaActions = actions;
    if (!::ChangeServiceConfig2W(service, SERVICE_CONFIG_FAILURE_ACTIONS, &failure_actions)) {
        err << "WARNING: the service " << name << " has no recovery actions (restart after 1 min, 1 min, 5 min): "
            << explain(::GetLastError(), "setting the recovery actions") << '\n';
    } else {
        // Wine answers success and stores nothing: believe only what can be read back.
        DWORD needed = 0;
        ::QueryServiceConfig2W(service, SERVICE_CONFIG_FAILURE_ACTIONS, nullptr, 0, &needed);
        std::vector<BYTE> buffer(needed > 0 ? needed : sizeof(SERVICE_FAILURE_ACTIONSW));
        const bool read = ::QueryServiceConfig2W(service, SERVICE_CONFIG_FAILURE_ACTIONS, buffer.data(),
                                                 static_cast<DWORD>(buffer.size()), &needed) != FALSE;
        const auto* stored = reinterpret_cast<const SERVICE_FAILURE_ACTIONSW*>(buffer.data());
        if (read && stored->cActions == failure_actions.cActions) {
            out << "Set the recovery actions of the service " << name
                << ": restart after 1 min, 1 min and 5 min; reset the failure count after a day.\n";
        } else {
            err << "WARNING: the service " << name
                << " has no recovery actions (restart after 1 min, 1 min, 5 min): the Service Control Manager "
                   "accepted them but did not store them. Set them on the Recovery tab of the service.\n";
        }
    }

    SERVICE_FAILURE_ACTIONS_FLAG on_non_crash_failures{TRUE};
    if (::ChangeServiceConfig2W(service, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &on_non_crash_failures)) {
        out << "Set the service " << name << " to take its recovery actions when it stops with an error too.\n";
    } else {
        err << "WARNING: the service " << name << " takes its recovery actions only when it crashes, not when it "
            << "stops with an error: " << explain(::GetLastError(), "setting the failure actions flag") << '\n';
    }

    SERVICE_PRESHUTDOWN_INFO preshutdown{plan.preshutdown_timeout_ms};
    if (::ChangeServiceConfig2W(service, SERVICE_CONFIG_PRESHUTDOWN_INFO, &preshutdown)) {
        out << "Set the shutdown allowance of the service " << name << " to " << plan.preshutdown_timeout_ms / 1000
            << " s, so a repair step can finish before Windows shuts down.\n";
    } else {
        err << "WARNING: the service " << name << " keeps the default shutdown allowance: "
            << explain(::GetLastError(), "setting the preshutdown timeout") << '\n';
    }
}

// Whether the service's DACL, read back from the SCM, holds the same ACEs as `wanted` (same
// type, rights and account, in order). SetServiceObjectSecurity may report success without
// keeping anything: Wine 8's is a stub that returns TRUE, and its QueryServiceObjectSecurity
// always answers with an empty DACL.
bool service_dacl_is(SC_HANDLE service, PSECURITY_DESCRIPTOR wanted) {
    DWORD needed = 0;
    ::QueryServiceObjectSecurity(service, DACL_SECURITY_INFORMATION, nullptr, 0, &needed);
    if (needed == 0) return false;
    std::vector<BYTE> buffer(needed);
    if (!::QueryServiceObjectSecurity(service, DACL_SECURITY_INFORMATION, buffer.data(), needed, &needed)) return false;
    auto dacl_of = [](PSECURITY_DESCRIPTOR descriptor) -> PACL {
        BOOL present = FALSE;
        BOOL defaulted = FALSE;
        PACL dacl = nullptr;
        if (!::GetSecurityDescriptorDacl(descriptor, &present, &dacl, &defaulted) || !present) return nullptr;
        return dacl;
    };
    const PACL have = dacl_of(buffer.data());
    const PACL want = dacl_of(wanted);
    if (have == nullptr || want == nullptr || have->AceCount != want->AceCount) return false;
    for (WORD index = 0; index < want->AceCount; ++index) {
        void* have_ace = nullptr;
        void* want_ace = nullptr;
        if (!::GetAce(have, index, &have_ace) || !::GetAce(want, index, &want_ace)) return false;
        const auto* a = static_cast<const ACCESS_ALLOWED_ACE*>(have_ace);
        const auto* b = static_cast<const ACCESS_ALLOWED_ACE*>(want_ace);
        if (a->Header.AceType != b->Header.AceType || a->Header.AceType != ACCESS_ALLOWED_ACE_TYPE) return false;
        if (a->Mask != b->Mask) return false;
        // The SID starts at SidStart in an ACCESS_ALLOWED_ACE.
        if (!::EqualSid(const_cast<DWORD*>(&a->SidStart), const_cast<DWORD*>(&b->SidStart))) return false;
    }
    return true;
}

// Who may do what to the service. Windows' default lets interactive users send user-defined
// control codes, and `certheal resume` is one: only SYSTEM and administrators may send it (and
// stop, start or reconfigure the service); everyone else may only query it. Read back after
// setting: an SCM that says yes without keeping the rules (Wine's) gets a warning, not a claim.
void restrict_service_access(SC_HANDLE service, const InstallPlan& plan, std::ostream& out, std::ostream& err) {
    const std::string name = shown(plan.service_name);
    PSECURITY_DESCRIPTOR raw_descriptor = nullptr;
    const wchar_t* sddl = L"D:(A;;CCLCSWRPWPDTLOCRRC;;;SY)(A;;CCDCLCSWRPWPDTLOCRSDRCWDWO;;;BA)"
                          L"(A;;CCLCSWLORC;;;IU)(A;;CCLCSWLORC;;;SU)(A;;CCLCSWLORC;;;AU)";
    if (!::ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, &raw_descriptor, nullptr)) {
        err << "WARNING: any interactive user may send certheal resume to the service " << name << ": "
            << explain(::GetLastError(), "building its access rules") << '\n';
        return;
    }
    const std::unique_ptr<void, LocalFreeDeleter> descriptor(raw_descriptor);
    if (!::SetServiceObjectSecurity(service, DACL_SECURITY_INFORMATION, descriptor.get())) {
        err << "WARNING: any interactive user may send certheal resume to the service " << name << ": "
            << explain(::GetLastError(), "setting its access rules") << '\n';
        return;
    }
    if (!service_dacl_is(service, descriptor.get())) {
        err << "WARNING: the Service Control Manager accepted the access rules of the service " << name
            << " but did not keep them (reading them back shows other rules; Wine's SetServiceObjectSecurity is a "
               "stub): who may control it, certheal resume included, is whatever it was before.\n";
        return;
    }
    out << "Restricted the service " << name
        << " so that only administrators and SYSTEM may control it (certheal resume included).\n";
}

bool install_or_update_service(const InstallPlan& plan, std::ostream& out, std::ostream& err) {
    const std::string name = shown(plan.service_name);
    ScHandle manager(::OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE));
    if (!manager) {
        err << explain(::GetLastError(), "certheal install could not open the Service Control Manager") << '\n';
        return false;
    }
    const std::wstring command = service_command_line(plan);
    ScHandle service(::CreateServiceW(manager.get(), plan.service_name.c_str(), plan.display_name.c_str(),
                                      SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START,
                                      SERVICE_ERROR_NORMAL, command.c_str(), nullptr, nullptr, nullptr,
                                      nullptr /* LocalSystem */, nullptr));
    if (service) {
        out << "Created the service " << name << " (" << shown(plan.display_name)
            << "), automatic start, LocalSystem: " << shown(command) << '\n';
    } else {
        const DWORD error = ::GetLastError();
        if (error != ERROR_SERVICE_EXISTS) {
            err << explain(error, "certheal install could not create the service " + name) << '\n';
            return false;
        }
        service.reset(::OpenServiceW(manager.get(), plan.service_name.c_str(), SERVICE_ALL_ACCESS));
        if (!service) {
            err << explain(::GetLastError(), "certheal install could not open the existing service " + name) << '\n';
            return false;
        }
        wchar_t local_system[] = L"LocalSystem";
        wchar_t no_password[] = L"";
        if (!::ChangeServiceConfigW(service.get(), SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START,
                                    SERVICE_ERROR_NORMAL, command.c_str(), nullptr, nullptr, nullptr, local_system,
                                    no_password, plan.display_name.c_str())) {
            const DWORD change_error = ::GetLastError();
            err << explain(change_error, "certheal install could not update the existing service " + name);
            if (change_error == ERROR_SERVICE_MARKED_FOR_DELETE) {
                err << " Close the Services console and any program holding the service open, then run it again.";
            }
            err << '\n';
            return false;
        }
        out << "Updated the existing service " << name << " (" << shown(plan.display_name)
            << "), automatic start, LocalSystem: " << shown(command) << '\n';
    }
    configure_service_extras(service.get(), plan, out, err);
    restrict_service_access(service.get(), plan, out, err);
    return true;
}

// The service exists (the MSI's ServiceInstall registered it): give it what `certheal install`
// gives a service it creates, by the same two functions.
bool configure_existing_service(const InstallPlan& plan, std::ostream& out, std::ostream& err) {
    const std::string name = shown(plan.service_name);
    ScHandle manager(::OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT));
    if (!manager) {
        err << explain(::GetLastError(), "certheal could not open the Service Control Manager") << '\n';
        return false;
    }
    ScHandle service(::OpenServiceW(manager.get(), plan.service_name.c_str(),
                                    SERVICE_CHANGE_CONFIG | SERVICE_QUERY_CONFIG | READ_CONTROL | WRITE_DAC));
    if (!service) {
        err << explain(::GetLastError(), "certheal could not open the service " + name +
                                             " that the installer registered")
            << '\n';
        return false;
    }
    out << "Configuring the service " << name << " that the installer registered, as certheal install does.\n";
    configure_service_extras(service.get(), plan, out, err);
    restrict_service_access(service.get(), plan, out, err);
    return true;
}

// --- the event source ----------------------------------------------------------------------------

bool register_event_source(const InstallPlan& plan, std::ostream& out, std::ostream& err) {
    const std::wstring key_path = event_source_key(plan.event_source);
    RegKey key;
    LSTATUS status = ::RegCreateKeyExW(HKEY_LOCAL_MACHINE, key_path.c_str(), 0, nullptr, REG_OPTION_NON_VOLATILE,
                                       KEY_SET_VALUE, nullptr, key.out(), nullptr);
    if (status != ERROR_SUCCESS) {
        err << explain(static_cast<DWORD>(status), "certheal install could not create the registry key HKLM\\" +
                                                       shown(key_path) + " of its Event Log source")
            << '\n';
        return false;
    }
    const std::wstring message_file = plan.executable.wstring();
    status = ::RegSetValueExW(key.get(), L"EventMessageFile", 0, REG_EXPAND_SZ,
                              reinterpret_cast<const BYTE*>(message_file.c_str()),
                              static_cast<DWORD>((message_file.size() + 1) * sizeof(wchar_t)));
    const DWORD types = EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE;
    if (status == ERROR_SUCCESS) {
        status = ::RegSetValueExW(key.get(), L"TypesSupported", 0, REG_DWORD, reinterpret_cast<const BYTE*>(&types),
                                  sizeof(types));
    }
    if (status != ERROR_SUCCESS) {
        err << explain(static_cast<DWORD>(status), "certheal install could not write the Event Log source HKLM\\" +
                                                       shown(key_path))
            << '\n';
        return false;
    }
    out << "Registered the Event Log source " << shown(plan.event_source) << " (Application log, messages from "
        << shown(plan.executable) << ").\n";
    return true;
}

// --- the data folder and the default configuration -----------------------------------------------

bool protect_data_folder(const InstallPlan& plan, std::ostream& out, std::ostream& err) {
    std::error_code error;
    const bool created = std::filesystem::create_directories(plan.data_folder, error);
    if (error) {
        err << "certheal install could not create the folder " << shown(plan.data_folder) << ": " << error.message()
            << '\n';
        return false;
    }
    PSECURITY_DESCRIPTOR raw_descriptor = nullptr;
    if (!::ConvertStringSecurityDescriptorToSecurityDescriptorW(kDataFolderSddl, SDDL_REVISION_1, &raw_descriptor,
                                                                nullptr)) {
        err << explain(::GetLastError(), "certheal install could not build the folder's access control list") << '\n';
        return false;
    }
    std::unique_ptr<void, LocalFreeDeleter> descriptor(raw_descriptor);
    BOOL present = FALSE;
    BOOL defaulted = FALSE;
    PACL dacl = nullptr;
    ::GetSecurityDescriptorDacl(raw_descriptor, &present, &dacl, &defaulted);
    std::wstring folder = plan.data_folder.wstring();
    const DWORD status = ::SetNamedSecurityInfoW(folder.data(), SE_FILE_OBJECT,
                                                 DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
                                                 nullptr, nullptr, dacl, nullptr);
    if (status != ERROR_SUCCESS) {
        err << explain(status, "certheal install could not restrict who may write " + shown(plan.data_folder)) << '\n';
        return false;
    }
    out << (created ? "Created the folder " : "Kept the folder ") << shown(plan.data_folder)
        << "; only Administrators and SYSTEM may change what is in it, Users may read it.\n";
    return true;
}

bool write_default_config(const InstallPlan& plan, std::ostream& out, std::ostream& err) {
    std::error_code error;
    if (std::filesystem::exists(plan.config, error)) {
        out << "Kept the existing configuration " << shown(plan.config) << ".\n";
        return true;
    }
    std::filesystem::create_directories(plan.config.parent_path(), error);
    // Created exclusively: an existing file is never overwritten, even one that appeared just now.
    UniqueHandle file(::CreateFileW(plan.config.c_str(), GENERIC_WRITE, 0, nullptr, CREATE_NEW,
                                    FILE_ATTRIBUTE_NORMAL, nullptr));
    if (!file) {
        const DWORD code = ::GetLastError();
        if (code == ERROR_FILE_EXISTS) {
            out << "Kept the existing configuration " << shown(plan.config) << ".\n";
            return true;
        }
        err << explain(code, "certheal install could not write the default configuration " + shown(plan.config))
            << '\n';
        return false;
    }
    const std::string text = default_config_text();
    DWORD written = 0;
    if (!::WriteFile(file.get(), text.data(), static_cast<DWORD>(text.size()), &written, nullptr) ||
        written != text.size()) {
        err << explain(::GetLastError(), "certheal install could not write the default configuration " +
                                             shown(plan.config))
            << '\n';
        return false;
    }
    out << "Wrote a default configuration to " << shown(plan.config)
        << ": it probes https://localhost/ and repairs nothing; list your sites and repair steps there, then run "
           "certheal check-config.\n";
    return true;
}

// --- uninstall -----------------------------------------------------------------------------------

DWORD current_state(SC_HANDLE service) {
    SERVICE_STATUS_PROCESS status{};
    DWORD needed = 0;
    if (!::QueryServiceStatusEx(service, SC_STATUS_PROCESS_INFO, reinterpret_cast<BYTE*>(&status), sizeof(status),
                                &needed)) {
        return 0;
    }
    return status.dwCurrentState;
}

// Stops the service and waits for STOPPED, up to `limit`. A second STOP is never sent: Wine
// kills the process on it, and Windows has nothing to gain from it.
bool stop_and_wait(SC_HANDLE service, const std::string& name, std::chrono::seconds limit, std::ostream& out,
                   std::ostream& err) {
    DWORD state = current_state(service);
    if (state == SERVICE_STOPPED || state == 0) return true;
    if (state != SERVICE_STOP_PENDING) {
        SERVICE_STATUS status{};
        if (!::ControlService(service, SERVICE_CONTROL_STOP, &status)) {
            const DWORD error = ::GetLastError();
            if (error != ERROR_SERVICE_NOT_ACTIVE) {
                err << explain(error, "certheal uninstall could not stop the service " + name) << '\n';
                return false;
            }
        }
    }
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while ((state = current_state(service)) != SERVICE_STOPPED) {
        if (std::chrono::steady_clock::now() > deadline) {
            err << "WARNING: the service " << name << " did not stop within " << limit.count()
                << " s; it is removed once it stops.\n";
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    out << "Stopped the service " << name << ".\n";
    return true;
}

}  // namespace

InstallPlan default_install_plan(const std::filesystem::path& config) {
    InstallPlan plan;
    plan.executable = this_executable();
    plan.config = std::filesystem::absolute(config);
    plan.data_folder = platform::default_state_dir();
    plan.description =
        L"Probes HTTPS sites that require client certificates, detects the IIS 403.7 \"client certificate "
        L"required\" desynchronisation and repairs it under a policy. Configuration: " +
        plan.config.wstring();
    return plan;
}

std::wstring service_command_line(const InstallPlan& plan) {
    return L"\"" + plan.executable.wstring() + L"\" run --config \"" + plan.config.wstring() + L"\"";
}

std::wstring event_source_key(const std::wstring& source) {
    return L"SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\" + source;
}

std::string default_config_text() {
    return R"({
  "defaults": { "interval": "5m" },
  "sites": [
    { "name": "placeholder-localhost", "url": "https://localhost/" }
  ],
  "remediation": { "enabled": false, "dry_run": true }
}
)";
}

int install_service(const InstallPlan& plan, std::ostream& out, std::ostream& err) {
    // The folder first: the default config inherits its protection.
    if (!protect_data_folder(plan, out, err)) return cli::runtime_failure;
    if (!write_default_config(plan, out, err)) return cli::runtime_failure;
    if (!register_event_source(plan, out, err)) return cli::runtime_failure;
    if (!install_or_update_service(plan, out, err)) return cli::runtime_failure;
    out << "Installed. Start it with: net start " << shown(plan.service_name) << '\n';
    return cli::ok;
}

int configure_installed_service(const InstallPlan& plan, std::ostream& out, std::ostream& err) {
    return configure_existing_service(plan, out, err) ? cli::ok : cli::runtime_failure;
}

int uninstall_service(const InstallPlan& plan, std::ostream& out, std::ostream& err) {
    const std::string name = shown(plan.service_name);
    ScHandle manager(::OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT));
    if (!manager) {
        err << explain(::GetLastError(), "certheal uninstall could not open the Service Control Manager") << '\n';
        return cli::runtime_failure;
    }
    ScHandle service(
        ::OpenServiceW(manager.get(), plan.service_name.c_str(), SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE));
    if (!service) {
        const DWORD error = ::GetLastError();
        if (error != ERROR_SERVICE_DOES_NOT_EXIST) {
            err << explain(error, "certheal uninstall could not open the service " + name) << '\n';
            return cli::runtime_failure;
        }
        out << "The service " << name << " is not installed; nothing to remove.\n";
    } else {
        stop_and_wait(service.get(), name, std::chrono::seconds(60), out, err);
        if (::DeleteService(service.get())) {
            out << "Removed the service " << name << ".\n";
        } else if (const DWORD error = ::GetLastError(); error == ERROR_SERVICE_MARKED_FOR_DELETE) {
            out << "The service " << name << " was already marked for removal; Windows removes it once nothing "
                << "holds it open.\n";
        } else {
            err << explain(error, "certheal uninstall could not remove the service " + name) << '\n';
            return cli::runtime_failure;
        }
    }

    const std::wstring key_path = event_source_key(plan.event_source);
    const LSTATUS status = ::RegDeleteKeyW(HKEY_LOCAL_MACHINE, key_path.c_str());
    if (status == ERROR_SUCCESS) {
        out << "Removed the Event Log source " << shown(plan.event_source) << ".\n";
    } else if (status != ERROR_FILE_NOT_FOUND) {
        err << explain(static_cast<DWORD>(status), "certheal uninstall could not remove the Event Log source HKLM\\" +
                                                       shown(key_path))
            << '\n';
        return cli::runtime_failure;
    }
    out << "Left the configuration and the journal in place (by default in " << shown(plan.data_folder) << ").\n";
    return cli::ok;
}

}  // namespace certheal::win
