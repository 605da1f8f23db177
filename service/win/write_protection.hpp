#pragma once
// Who may change what certheal trusts: the accounts certheal accepts as owners and writers of its
// config and folders (SYSTEM, Administrators, TrustedInstaller, the account it runs as) and how an
// account is named in a message. write_protection.cpp has write_protection_problem
// (file_replacer.hpp) and the platform port's protection checks; the named mutexes
// (named_mutex_locks.cpp) check their creator with the same rules.

#include <windows.h>

#include <string>

namespace certheal::win {

struct LocalFreeDeleter {
    void operator()(void* memory) const noexcept { ::LocalFree(memory); }
};

// The account as DOMAIN\user, the SID as text when it has no name, or a phrase saying it is unknown.
std::string account_name(PSID sid);

// The owner this process gives the objects it creates (an elevated administrator's token:
// Administrators; SYSTEM's: SYSTEM; Wine's: its own "None" group, S-1-5-21-0-0-0-513).
bool is_process_default_owner(PSID sid);

// SYSTEM, Administrators, TrustedInstaller and the account certheal runs as may change it.
bool is_trusted(PSID sid);

}  // namespace certheal::win
