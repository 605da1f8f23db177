#include "service/win/file_replacer.hpp"

#include <windows.h>

#include <algorithm>

#include "service/win/handles.hpp"
#include "service/win/win_error.hpp"

namespace certheal::win {
namespace {

// Removes the temporary file on every way out unless it was swapped in.
class TemporaryFile {
public:
    explicit TemporaryFile(std::filesystem::path path) : path_(std::move(path)) {}
    ~TemporaryFile() {
        if (!consumed_) ::DeleteFileW(path_.c_str());
    }
    TemporaryFile(const TemporaryFile&) = delete;
    TemporaryFile& operator=(const TemporaryFile&) = delete;
    const std::filesystem::path& path() const noexcept { return path_; }
    void consumed() noexcept { consumed_ = true; }

private:
    std::filesystem::path path_;
    bool consumed_ = false;
};

}  // namespace

Result<Done> WinFileReplacer::replace_contents(const std::filesystem::path& file, const std::string& contents) {
    const std::string shown = to_utf8(file.wstring());
    TemporaryFile temporary(file.parent_path() /
                            (L"." + file.filename().wstring() + L".certheal-" + std::to_wstring(::GetCurrentProcessId())));
    {
        UniqueHandle handle(::CreateFileW(temporary.path().c_str(), GENERIC_WRITE, 0, nullptr, CREATE_ALWAYS,
                                          FILE_ATTRIBUTE_NORMAL, nullptr));
        if (!handle) return last_error_failure("certheal could not create a temporary file beside " + shown);
        std::size_t written = 0;
        while (written < contents.size()) {
            const DWORD chunk = static_cast<DWORD>(std::min<std::size_t>(contents.size() - written, 1u << 20));
            DWORD done = 0;
            if (!::WriteFile(handle.get(), contents.data() + written, chunk, &done, nullptr) || done == 0) {
                return last_error_failure("certheal could not write the new " + shown);
            }
            written += done;
        }
        if (!::FlushFileBuffers(handle.get())) return last_error_failure("certheal could not write the new " + shown);
    }
    if (!::ReplaceFileW(file.c_str(), temporary.path().c_str(), nullptr, REPLACEFILE_IGNORE_MERGE_ERRORS, nullptr,
                        nullptr)) {
        return last_error_failure("certheal could not put the new " + shown + " in place");
    }
    temporary.consumed();
    return success();
}

}  // namespace certheal::win
