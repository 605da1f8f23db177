#include "service/win/write_protection.hpp"

#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

#include <memory>

#include "service/platform.hpp"
#include "service/win/file_replacer.hpp"
#include "service/win/handles.hpp"
#include "service/win/win_error.hpp"

namespace certheal::win {
namespace {

// Whether the SID the process token holds as `kind` (TokenUser, TokenOwner) is `sid`.
template <class Info, class SidOf>
bool process_token_sid_is(TOKEN_INFORMATION_CLASS kind, SidOf sid_of, PSID sid) {
    HANDLE raw_token = nullptr;
    if (!::OpenProcessToken(::GetCurrentProcess(), TOKEN_QUERY, &raw_token)) return false;
    UniqueHandle token(raw_token);
    alignas(Info) BYTE buffer[sizeof(Info) + SECURITY_MAX_SID_SIZE];
    DWORD size = 0;
    if (!::GetTokenInformation(token.get(), kind, buffer, sizeof(buffer), &size)) return false;
    return ::EqualSid(sid_of(*reinterpret_cast<Info*>(buffer)), sid) != FALSE;
}

bool is_process_user(PSID sid) {
    return process_token_sid_is<TOKEN_USER>(TokenUser, [](TOKEN_USER& info) { return info.User.Sid; }, sid);
}

// Rights that let someone replace the file's contents, or swap the file in its folder.
constexpr ACCESS_MASK kWriteRights = FILE_WRITE_DATA | FILE_APPEND_DATA | FILE_DELETE_CHILD | DELETE | WRITE_DAC |
                                     WRITE_OWNER | GENERIC_WRITE | GENERIC_ALL;

}  // namespace

std::string account_name(PSID sid) {
    wchar_t name[256];
    wchar_t domain[256];
    DWORD name_size = 256;
    DWORD domain_size = 256;
    SID_NAME_USE use{};
    if (::LookupAccountSidW(nullptr, sid, name, &name_size, domain, &domain_size, &use)) {
        const std::wstring full = domain_size > 0 && domain[0] != L'\0' ? std::wstring(domain) + L"\\" + name : name;
        return to_utf8(full);
    }
    wchar_t* text = nullptr;
    if (::ConvertSidToStringSidW(sid, &text)) {
        std::unique_ptr<void, LocalFreeDeleter> owned(text);
        return to_utf8(text);
    }
    return "an unknown account";
}

bool is_process_default_owner(PSID sid) {
    return process_token_sid_is<TOKEN_OWNER>(TokenOwner, [](TOKEN_OWNER& info) { return info.Owner; }, sid);
}

bool is_trusted(PSID sid) {
    if (::IsWellKnownSid(sid, WinLocalSystemSid) || ::IsWellKnownSid(sid, WinBuiltinAdministratorsSid)) return true;
    PSID trusted_installer = nullptr;
    if (::ConvertStringSidToSidW(L"S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464",
                                 &trusted_installer)) {
        std::unique_ptr<void, LocalFreeDeleter> owned(trusted_installer);
        if (::EqualSid(sid, trusted_installer)) return true;
    }
    return is_process_user(sid);
}

std::optional<std::string> write_protection_problem(const std::filesystem::path& path) {
    PSID owner = nullptr;
    PACL dacl = nullptr;
    PSECURITY_DESCRIPTOR raw_descriptor = nullptr;
    const DWORD status =
        ::GetNamedSecurityInfoW(path.c_str(), SE_FILE_OBJECT, OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                                &owner, nullptr, &dacl, nullptr, &raw_descriptor);
    if (status == ERROR_FILE_NOT_FOUND || status == ERROR_PATH_NOT_FOUND) return std::nullopt;  // said elsewhere
    const std::string shown = to_utf8(path.wstring());
    if (status != ERROR_SUCCESS) {
        return "certheal could not read who may change " + shown + " (" + system_message(status) + ")";
    }
    std::unique_ptr<void, LocalFreeDeleter> descriptor(raw_descriptor);
    if (owner != nullptr && !is_trusted(owner)) {
        return shown + " is owned by " + account_name(owner) +
               ", not by Administrators, SYSTEM or the account certheal runs as";
    }
    if (dacl == nullptr) return shown + " has no access control list, so every user can change it";
    for (DWORD index = 0; index < dacl->AceCount; ++index) {
        void* raw_ace = nullptr;
        if (!::GetAce(dacl, index, &raw_ace)) continue;
        const auto* header = static_cast<const ACE_HEADER*>(raw_ace);
        if (header->AceType != ACCESS_ALLOWED_ACE_TYPE || (header->AceFlags & INHERIT_ONLY_ACE) != 0) continue;
        auto* ace = static_cast<ACCESS_ALLOWED_ACE*>(raw_ace);
        PSID who = reinterpret_cast<PSID>(&ace->SidStart);
        if ((ace->Mask & kWriteRights) != 0 && !is_trusted(who)) {
            return shown + " can be changed by " + account_name(who) +
                   "; only Administrators and SYSTEM should be able to write it";
        }
    }
    return std::nullopt;
}

}  // namespace certheal::win

namespace certheal::platform {

std::optional<std::string> config_write_protection_problem(const std::filesystem::path& config) {
    // The file and the folder holding it: whoever can write either can swap the config.
    const std::filesystem::path paths[] = {config, config.has_parent_path() ? config.parent_path() : "."};
    for (const auto& path : paths) {
        if (auto problem = win::write_protection_problem(path)) return problem;
    }
    return std::nullopt;
}

std::optional<std::string> folder_protection_problem(const std::filesystem::path& folder, std::string_view what) {
    // The nearest folder that exists: whoever may change it may create (or swap) the rest.
    std::error_code error;
    auto existing = std::filesystem::absolute(folder, error);
    while (!existing.empty() && !std::filesystem::exists(existing, error) && existing.has_parent_path() &&
           existing.parent_path() != existing) {
        existing = existing.parent_path();
    }
    if (auto problem = win::write_protection_problem(existing)) {
        return std::string(what) + " " + win::to_utf8(folder.wstring()) + " is not protected: " + *problem;
    }
    return std::nullopt;
}

}  // namespace certheal::platform
