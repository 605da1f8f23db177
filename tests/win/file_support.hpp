#pragma once
// Files and folders for the Wine tests: fresh scratch folders, and a file non-administrators
// can write (for the config refusal).

#include <windows.h>
#include <aclapi.h>

#include <filesystem>

#include <catch2/catch.hpp>

namespace win_test {

// An empty folder of that name under the temp folder (emptied if a previous run left it).
inline std::filesystem::path fresh_folder(const wchar_t* name) {
    wchar_t temp[MAX_PATH] = {};
    ::GetTempPathW(MAX_PATH, temp);
    auto folder = std::filesystem::path(temp) / name;
    std::filesystem::remove_all(folder);
    std::filesystem::create_directories(folder);
    return folder;
}

// Adds "Everyone: modify" to the file's access control list.
inline void let_everyone_write(const std::filesystem::path& file) {
    PACL old_dacl = nullptr;
    PSECURITY_DESCRIPTOR descriptor = nullptr;
    REQUIRE(::GetNamedSecurityInfoW(file.c_str(), SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, nullptr, nullptr,
                                    &old_dacl, nullptr, &descriptor) == ERROR_SUCCESS);
    EXPLICIT_ACCESSW everyone{};
    everyone.grfAccessPermissions = FILE_GENERIC_READ | FILE_GENERIC_WRITE;
    everyone.grfAccessMode = GRANT_ACCESS;
    everyone.grfInheritance = NO_INHERITANCE;
    everyone.Trustee.TrusteeForm = TRUSTEE_IS_NAME;
    everyone.Trustee.TrusteeType = TRUSTEE_IS_WELL_KNOWN_GROUP;
    wchar_t everyone_name[] = L"Everyone";
    everyone.Trustee.ptstrName = everyone_name;
    PACL new_dacl = nullptr;
    REQUIRE(::SetEntriesInAclW(1, &everyone, old_dacl, &new_dacl) == ERROR_SUCCESS);
    const DWORD status = ::SetNamedSecurityInfoW(const_cast<wchar_t*>(file.c_str()), SE_FILE_OBJECT,
                                                 DACL_SECURITY_INFORMATION, nullptr, nullptr, new_dacl, nullptr);
    ::LocalFree(new_dacl);
    ::LocalFree(descriptor);
    REQUIRE(status == ERROR_SUCCESS);
}

}  // namespace win_test
