#include "service/win/file_replacer.hpp"

#include <windows.h>

#include <algorithm>
#include <system_error>

#include "service/win/handles.hpp"
#include "service/win/own_files.hpp"
#include "service/win/win_error.hpp"

namespace certheal::win {
namespace {

bool same_file(const BY_HANDLE_FILE_INFORMATION& a, const BY_HANDLE_FILE_INFORMATION& b) {
    return a.dwVolumeSerialNumber == b.dwVolumeSerialNumber && a.nFileIndexHigh == b.nFileIndexHigh &&
           a.nFileIndexLow == b.nFileIndexLow;
}

Failure refused(std::errc code, std::string message) { return Failure{std::make_error_code(code), std::move(message)}; }

class WinFileToReplace final : public FileToReplace {
public:
    WinFileToReplace(std::filesystem::path file, BY_HANDLE_FILE_INFORMATION info, std::string contents)
        : file_(std::move(file)), info_(info), contents_(std::move(contents)) {}

    const std::string& contents() const override { return contents_; }
    std::uint64_t link_count() const override { return info_.nNumberOfLinks; }

    Result<Done> replace(const std::string& contents) override {
        const std::string shown = to_utf8(file_.wstring());
        auto created = create_temporary_beside(file_);
        if (!created) return created.error();
        auto& temporary = created.value();
        std::size_t written = 0;
        while (written < contents.size()) {
            const DWORD chunk = static_cast<DWORD>(std::min<std::size_t>(contents.size() - written, 1u << 20));
            DWORD done = 0;
            if (!::WriteFile(temporary.handle.get(), contents.data() + written, chunk, &done, nullptr) || done == 0) {
                return last_error_failure("certheal could not write the new " + shown);
            }
            written += done;
        }
        if (!::FlushFileBuffers(temporary.handle.get())) {
            return last_error_failure("certheal could not write the new " + shown);
        }
        temporary.handle.reset();

        // The name must still be the file certheal read: otherwise someone swapped it, and
        // certheal writes nothing.
        auto again = open_own_file(file_, FILE_READ_ATTRIBUTES, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                                   OPEN_EXISTING, "the bundle");
        BY_HANDLE_FILE_INFORMATION now{};
        if (!again || !::GetFileInformationByHandle(again.value().get(), &now) || !same_file(now, info_)) {
            return refused(std::errc::operation_canceled,
                           shown + " was replaced by something else while certheal updated it, so certheal wrote "
                                   "nothing; check who else changes that file, then repair again");
        }
        again.value().reset();
        if (!::ReplaceFileW(file_.c_str(), temporary.path.c_str(), nullptr, REPLACEFILE_IGNORE_MERGE_ERRORS, nullptr,
                            nullptr)) {
            return last_error_failure("certheal could not put the new " + shown + " in place");
        }
        temporary.keep();
        return success();
    }

private:
    std::filesystem::path file_;
    BY_HANDLE_FILE_INFORMATION info_;
    std::string contents_;
};

}  // namespace

Result<std::unique_ptr<FileToReplace>> WinFileReplacer::open(const std::filesystem::path& file, std::size_t limit) {
    const std::string shown = to_utf8(file.wstring());
    for (const auto& path : {file.parent_path(), file}) {
        if (path.empty()) continue;
        if (auto problem = write_protection_problem(path)) {
            return refused(std::errc::permission_denied,
                           "certheal does not change the bundle " + shown + ": " + *problem +
                               ". It writes the bundle with full privileges; only administrators may be able to "
                               "change it and its folder");
        }
    }
    auto opened = open_own_file(file, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                                OPEN_EXISTING, "the bundle");
    if (!opened) {
        if (opened.error().code == std::errc::no_such_file_or_directory) {
            return refused(std::errc::no_such_file_or_directory, "the bundle \"" + shown + "\" does not exist");
        }
        return opened.error();
    }
    BY_HANDLE_FILE_INFORMATION info{};
    if (!::GetFileInformationByHandle(opened.value().get(), &info)) {
        return last_error_failure("certheal could not look at the bundle " + shown);
    }
    const auto size = (static_cast<std::uint64_t>(info.nFileSizeHigh) << 32) | info.nFileSizeLow;
    const auto too_large = [&] {
        return refused(std::errc::file_too_large, "the bundle " + shown + " is larger than " +
                                                      std::to_string(limit / 1024) +
                                                      " KiB, more than such a file ever holds; check that it is the right file");
    };
    if (size > limit) return too_large();
    std::string contents;
    char chunk[64 * 1024];
    for (;;) {
        DWORD got = 0;
        if (!::ReadFile(opened.value().get(), chunk, sizeof chunk, &got, nullptr)) {
            return last_error_failure("certheal could not read the bundle " + shown);
        }
        if (got == 0) break;
        contents.append(chunk, got);
        if (contents.size() > limit) return too_large();
    }
    return std::unique_ptr<FileToReplace>(std::make_unique<WinFileToReplace>(file, info, std::move(contents)));
}

}  // namespace certheal::win
