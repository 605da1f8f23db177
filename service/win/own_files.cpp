#include "service/win/own_files.hpp"

#include <algorithm>
#include <system_error>

#include "core/base/temporary_name.hpp"
#include "service/win/win_error.hpp"

namespace certheal::win {
namespace {

bool write_all(HANDLE handle, const std::string& contents) {
    std::size_t written = 0;
    while (written < contents.size()) {
        const DWORD chunk = static_cast<DWORD>(std::min<std::size_t>(contents.size() - written, 1u << 20));
        DWORD done = 0;
        if (!::WriteFile(handle, contents.data() + written, chunk, &done, nullptr)) return false;
        if (done == 0) {
            ::SetLastError(ERROR_WRITE_FAULT);
            return false;
        }
        written += done;
    }
    return true;
}

Failure refused(const std::string& shown, const std::string& what, const std::string& why) {
    return Failure{std::make_error_code(std::errc::permission_denied),
                   "certheal did not open " + what + " " + shown + ": " + why +
                       ". certheal writes it with full privileges and never follows a symbolic link or junction at "
                       "its name; remove it, and certheal makes a new one"};
}

}  // namespace

Result<UniqueHandle> open_own_file(const std::filesystem::path& file, DWORD access, DWORD share, DWORD disposition,
                                   const std::string& what, DWORD flags) {
    const std::string shown = to_utf8(file.wstring());
    // FILE_FLAG_BACKUP_SEMANTICS lets a folder open too, so that it is named, not misreported.
    UniqueHandle handle(::CreateFileW(file.c_str(), access, share, nullptr, disposition,
                                      FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS | flags,
                                      nullptr));
    if (!handle) {
        const DWORD error = ::GetLastError();
        if (error == ERROR_FILE_NOT_FOUND || error == ERROR_PATH_NOT_FOUND) {
            return Failure{std::make_error_code(std::errc::no_such_file_or_directory), what + " " + shown + " does not exist"};
        }
        return win32_failure(error, "certheal could not open " + what + " " + shown);
    }
    BY_HANDLE_FILE_INFORMATION info{};
    if (!::GetFileInformationByHandle(handle.get(), &info)) {
        return last_error_failure("certheal could not look at " + what + " " + shown);
    }
    if ((info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) != 0) {
        return refused(shown, what, "it is a reparse point (a symbolic link or a junction)");
    }
    if ((info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) != 0) return refused(shown, what, "it is a folder");
    if (::GetFileType(handle.get()) != FILE_TYPE_DISK) return refused(shown, what, "it is not a file on a disk");
    return handle;
}

std::size_t remove_leftover_temporaries(const std::filesystem::path& folder) {
    std::size_t removed = 0;
    std::error_code error;
    for (std::filesystem::directory_iterator entry(folder, error), end; !error && entry != end; entry.increment(error)) {
        const std::string name = to_utf8(entry->path().filename().wstring());
        if (!is_temporary_name(name) && !is_legacy_temporary_name(name)) continue;
        const DWORD attributes = ::GetFileAttributesW(entry->path().c_str());
        if (attributes == INVALID_FILE_ATTRIBUTES) continue;
        // A directory (or a junction to one) is never ours: leave it.
        if ((attributes & FILE_ATTRIBUTE_DIRECTORY) != 0) continue;
        // DeleteFileW removes a symbolic link itself, never what it points to.
        if (::DeleteFileW(entry->path().c_str())) ++removed;
    }
    return removed;
}

Result<NewTemporary> create_temporary_beside(const std::filesystem::path& file) {
    const std::string shown = to_utf8(file.wstring());
    const auto folder = file.has_parent_path() ? file.parent_path() : std::filesystem::path(L".");
    for (int attempt = 0; attempt < 16; ++attempt) {
        auto temporary = folder / to_utf16(temporary_name_for(to_utf8(file.filename().wstring())));
        // CREATE_NEW fails on any name that exists, a link included: nothing is followed.
        UniqueHandle handle(::CreateFileW(temporary.c_str(), GENERIC_WRITE, 0, nullptr, CREATE_NEW,
                                          FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, nullptr));
        if (handle) return NewTemporary(std::move(temporary), std::move(handle));
        if (::GetLastError() != ERROR_FILE_EXISTS && ::GetLastError() != ERROR_ALREADY_EXISTS) {
            return last_error_failure("certheal could not create a temporary file beside " + shown);
        }
    }
    return Failure{std::make_error_code(std::errc::file_exists),
                   "certheal could not create a temporary file beside " + shown + ": every random name was taken"};
}

Result<Done> WinOwnFiles::write_atomically(const std::filesystem::path& file, const std::string& contents,
                                           std::filesystem::perms) {
    const std::string shown = to_utf8(file.wstring());
    auto created = create_temporary_beside(file);
    if (!created) return created.error();
    auto& temporary = created.value();
    if (!write_all(temporary.handle.get(), contents)) {
        auto failure = last_error_failure("certheal could not write " + shown);
        if (failure.code.value() == ERROR_DISK_FULL || failure.code.value() == ERROR_HANDLE_DISK_FULL) {
            failure.message += " Check free disk space.";
        }
        return failure;
    }
    temporary.handle.reset();
    // MoveFileExW replaces a reparse point at the name itself, never what it points to.
    if (!::MoveFileExW(temporary.path.c_str(), file.c_str(), MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
        return last_error_failure("certheal could not replace " + shown);
    }
    temporary.keep();
    return success();
}

Result<OwnFiles::Appended> WinOwnFiles::append(const std::filesystem::path& file, const std::string& record,
                                                std::filesystem::perms, std::uintmax_t limit) {
    const std::string shown = to_utf8(file.wstring());
    // Readers (certheal history) may read it meanwhile; nobody else writes it.
    auto opened = open_own_file(file, FILE_GENERIC_READ | FILE_GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_DELETE,
                                OPEN_ALWAYS, "its journal");
    if (!opened) return opened.error();
    HANDLE handle = opened.value().get();
    LARGE_INTEGER size{};
    if (!::GetFileSizeEx(handle, &size)) return last_error_failure("certheal could not look at its journal " + shown);
    const auto before = static_cast<std::uintmax_t>(size.QuadPart);
    if (before > 0 && before + record.size() > limit) return Appended::full;
    LARGE_INTEGER end{};
    if (!::SetFilePointerEx(handle, end, nullptr, FILE_END)) {
        return last_error_failure("certheal could not write to its journal " + shown);
    }
    if (!write_all(handle, record)) {
        auto failure = last_error_failure("certheal could not write to its journal " + shown);
        // Whole or not at all: cut off what part of the record did reach the file.
        if (::SetFilePointerEx(handle, size, nullptr, FILE_BEGIN)) ::SetEndOfFile(handle);
        return failure;
    }
    return Appended::yes;
}

Result<std::optional<std::string>> WinOwnFiles::read(const std::filesystem::path& file, std::size_t limit) {
    const std::string shown = to_utf8(file.wstring());
    auto opened = open_own_file(file, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                                OPEN_EXISTING, "the file");
    if (!opened) {
        if (opened.error().code == std::errc::no_such_file_or_directory) return std::optional<std::string>{};
        return opened.error();
    }
    HANDLE handle = opened.value().get();
    LARGE_INTEGER size{};
    if (!::GetFileSizeEx(handle, &size)) return last_error_failure("certheal could not look at " + shown);
    const auto too_large = [&] {
        return Failure{std::make_error_code(std::errc::file_too_large),
                       shown + " is larger than " + std::to_string(limit / 1024) +
                           " KiB, more than certheal ever writes there"};
    };
    if (static_cast<std::uintmax_t>(size.QuadPart) > limit) return too_large();
    std::string contents;
    char chunk[64 * 1024];
    for (;;) {
        DWORD got = 0;
        if (!::ReadFile(handle, chunk, sizeof chunk, &got, nullptr)) return last_error_failure("certheal could not read " + shown);
        if (got == 0) break;
        contents.append(chunk, got);
        if (contents.size() > limit) return too_large();
    }
    return std::optional<std::string>{std::move(contents)};
}

}  // namespace certheal::win
