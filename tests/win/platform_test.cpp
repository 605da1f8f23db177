// The Windows platform answers: folders, and who may change the configuration.

#include <windows.h>
#include <aclapi.h>

#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "service/platform.hpp"

namespace {

std::filesystem::path fresh_folder(const wchar_t* name) {
    wchar_t temp[MAX_PATH] = {};
    ::GetTempPathW(MAX_PATH, temp);
    auto folder = std::filesystem::path(temp) / name;
    std::filesystem::remove_all(folder);
    std::filesystem::create_directories(folder);
    return folder;
}

// Adds "Everyone: modify" to the file's access control list.
void let_everyone_write(const std::filesystem::path& file) {
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

}  // namespace

TEST_CASE("the configuration and state live under ProgramData", "[platform]") {
    const auto state = certheal::platform::default_state_dir();
    CHECK(state.filename() == L"certheal");
    CHECK(certheal::platform::default_config_path() == state / L"certheal.json");
    CHECK(state.is_absolute());
}

TEST_CASE("a config file only its owner can write raises no protection problem", "[platform]") {
    const auto folder = fresh_folder(L"certheal-acl-own");
    const auto config = folder / L"certheal.json";
    std::ofstream(config) << "{}";

    const auto problem = certheal::platform::config_write_protection_problem(config);
    CHECK_FALSE(problem.has_value());
    if (problem) WARN(*problem);
}

TEST_CASE("a config file every user can write is named with who can write it", "[platform]") {
    const auto folder = fresh_folder(L"certheal-acl-everyone");
    const auto config = folder / L"certheal.json";
    std::ofstream(config) << "{}";
    let_everyone_write(config);

    const auto problem = certheal::platform::config_write_protection_problem(config);
    REQUIRE(problem.has_value());
    CHECK_THAT(*problem, Catch::Contains("certheal.json") && Catch::Contains("Everyone"));
}
