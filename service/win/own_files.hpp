#pragma once
// certheal's own files on Windows (the journal, state.json, status.json, certheal.prom): a
// temporary created with CREATE_NEW under a random name, moved over the file (a reparse point
// at the name is replaced, never followed); existing files opened with
// FILE_FLAG_OPEN_REPARSE_POINT and refused when they are a reparse point (a symbolic link, a
// junction) or not a file on a disk. Modes do not apply: the state folder's ACL protects them.

#include <windows.h>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "core/model/ports.hpp"
#include "service/win/handles.hpp"

namespace certheal::win {

// Opens `file` without following a reparse point: `access` and `share` as CreateFileW takes
// them, `disposition` OPEN_EXISTING, OPEN_ALWAYS or CREATE_NEW. A reparse point, a folder or
// something that is not a file on a disk is refused with a sentence naming `what`.
Result<UniqueHandle> open_own_file(const std::filesystem::path& file, DWORD access, DWORD share, DWORD disposition,
                                   const std::string& what, DWORD flags = 0);

std::size_t remove_leftover_temporaries(const std::filesystem::path& folder);

// A new file beside `file` under a random temporary name (temporary_name_for), created with
// CREATE_NEW and open for writing only. It is deleted when this goes, unless kept (moved in
// place).
class NewTemporary {
public:
    NewTemporary(std::filesystem::path made, UniqueHandle opened) : path(std::move(made)), handle(std::move(opened)) {}
    NewTemporary(NewTemporary&& other) noexcept
        : path(std::move(other.path)), handle(std::move(other.handle)), armed_(std::exchange(other.armed_, false)) {}
    NewTemporary& operator=(NewTemporary&&) = delete;
    ~NewTemporary() {
        if (armed_) ::DeleteFileW(path.c_str());
    }
    void keep() noexcept { armed_ = false; }

    std::filesystem::path path;
    UniqueHandle handle;

private:
    bool armed_ = true;
};
Result<NewTemporary> create_temporary_beside(const std::filesystem::path& file);

class WinOwnFiles final : public OwnFiles {
public:
    Result<Done> write_atomically(const std::filesystem::path& file, const std::string& contents,
                                  std::filesystem::perms mode) override;
    Result<Appended> append(const std::filesystem::path& file, const std::string& record, std::filesystem::perms mode,
                            std::uintmax_t limit) override;
    Result<std::optional<std::string>> read(const std::filesystem::path& file, std::size_t limit) override;
};

}  // namespace certheal::win
