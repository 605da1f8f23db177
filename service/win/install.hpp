#pragma once
// `certheal install` / `certheal uninstall` on Windows: the service, its Event Log source, the
// protected data folder and a harmless default configuration.
//
// Each action prints one line on `out`; settings Windows (or Wine) refused are WARNING lines on
// `err` that name what was not applied, and never fail the install. Both commands can be run
// again: install updates an existing service, uninstall of a missing service succeeds.

#include <filesystem>
#include <ostream>
#include <string>

namespace certheal::win {

struct InstallPlan {
    std::wstring service_name = L"certheal";
    std::wstring display_name = L"certheal client-certificate healer";
    std::wstring description;
    std::filesystem::path executable;   // absolute; also the Event Log message file
    std::filesystem::path config;       // absolute; written with the default content if missing
    std::filesystem::path data_folder;  // created with the protected ACL (%ProgramData%\certheal)
    std::wstring event_source = L"certheal";
    unsigned preshutdown_timeout_ms = 60'000;
};

// This executable, `config` made absolute, %ProgramData%\certheal.
InstallPlan default_install_plan(const std::filesystem::path& config);

// `"<exe>" run --config "<config>"`
std::wstring service_command_line(const InstallPlan& plan);

// Protected DACL: SYSTEM and Administrators full control (inherited by everything inside),
// Users read and execute.
inline constexpr wchar_t kDataFolderSddl[] = L"D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)";

// Registry key of the event source under HKLM.
std::wstring event_source_key(const std::wstring& source);

// A valid configuration that repairs nothing: one placeholder site on this machine, probed every
// 5 minutes, remediation disabled (and dry run, should someone enable it without steps review).
std::string default_config_text();

// Return cli exit codes: 0 done (possibly with warnings), 3 a required action failed.
int install_service(const InstallPlan& plan, std::ostream& out, std::ostream& err);
int uninstall_service(const InstallPlan& plan, std::ostream& out, std::ostream& err);

// The MSI's custom action (`certheal install --msi-postinstall`, deferred, as SYSTEM, after
// InstallServices): the service the MSI registered gets the recovery actions, the delayed
// start, the preshutdown allowance, the description and the access rules of install_service,
// set by the same code. wixl cannot write them into the MSI's tables. 3 when the service
// cannot be opened (the install then fails and rolls back); settings the SCM refuses are
// warnings, as for install_service.
int configure_installed_service(const InstallPlan& plan, std::ostream& out, std::ostream& err);

// Where the custom action writes what it did: the MSI cannot show an EXE custom action's
// output, and an admin (or a test) reads it here. Appended to, one block per run.
inline constexpr wchar_t kMsiLogName[] = L"msi-postinstall.log";

}  // namespace certheal::win
