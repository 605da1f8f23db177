// `certheal history --follow` on Windows: ReadDirectoryChangesW on the state folder,
// overlapped, its event waited for through the io_context (boost::asio::windows::object_handle),
// so the follower sleeps until Windows says a journal file changed.

#include <windows.h>

#include <array>
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <cwctype>

#include <boost/asio/windows/object_handle.hpp>

#include "service/platform.hpp"
#include "service/win/handles.hpp"
#include "service/win/win_error.hpp"

namespace certheal::platform {
namespace {

constexpr DWORD kNotifyFilter = FILE_NOTIFY_CHANGE_FILE_NAME | FILE_NOTIFY_CHANGE_SIZE | FILE_NOTIFY_CHANGE_LAST_WRITE;

// journal.jsonl and journal.<n>.jsonl; status.json and state.json (rewritten up to once a
// second by a busy service) wake nobody.
bool is_journal_name(const wchar_t* name, std::size_t length) {
    constexpr wchar_t kPrefix[] = L"journal.";
    constexpr std::size_t kPrefixLength = sizeof kPrefix / sizeof kPrefix[0] - 1;
    if (length < kPrefixLength) return false;
    for (std::size_t index = 0; index < kPrefixLength; ++index) {
        if (::towlower(name[index]) != kPrefix[index]) return false;
    }
    return true;
}

class DirectoryJournalWatch : public std::enable_shared_from_this<DirectoryJournalWatch> {
public:
    using Handler = std::function<void(const std::optional<std::string>&)>;

    DirectoryJournalWatch(boost::asio::io_context& io, win::UniqueHandle directory, HANDLE event,
                          std::filesystem::path folder, Handler handler)
        : directory_(std::move(directory)), signalled_(io, event), folder_(std::move(folder)),
          handler_(std::move(handler)) {
        overlapped_.hEvent = event;
    }

    ~DirectoryJournalWatch() {
        // The kernel writes into buffer_ until the read ends: cancel it and wait for that.
        if (pending_) {
            ::CancelIoEx(directory_.get(), &overlapped_);
            DWORD ignored = 0;
            ::GetOverlappedResult(directory_.get(), &overlapped_, &ignored, TRUE);
        }
    }
    DirectoryJournalWatch(const DirectoryJournalWatch&) = delete;
    DirectoryJournalWatch& operator=(const DirectoryJournalWatch&) = delete;

    std::optional<std::string> start_read() {
        ::ResetEvent(overlapped_.hEvent);
        if (!::ReadDirectoryChangesW(directory_.get(), buffer_.data(), static_cast<DWORD>(buffer_.size()), FALSE,
                                     kNotifyFilter, nullptr, &overlapped_, nullptr)) {
            return win::last_error_failure("certheal could not watch " + win::to_utf8(folder_.wstring()) +
                                           " for new journal lines")
                .message;
        }
        pending_ = true;
        signalled_.async_wait([weak = weak_from_this()](const boost::system::error_code& error) {
            if (auto self = weak.lock(); self && !error) self->on_signalled();
        });
        return std::nullopt;
    }

private:
    void on_signalled() {
        DWORD bytes = 0;
        const BOOL done = ::GetOverlappedResult(directory_.get(), &overlapped_, &bytes, FALSE);
        pending_ = false;
        if (!done) {
            handler_(win::last_error_failure("the watch of " + win::to_utf8(folder_.wstring()) + " ended").message);
            return;
        }
        // 0 bytes: more changed than the buffer holds; look at the journal anyway.
        bool journal_changed = bytes == 0;
        std::size_t offset = 0;
        while (bytes > 0 && offset + sizeof(FILE_NOTIFY_INFORMATION) <= bytes) {
            FILE_NOTIFY_INFORMATION entry{};
            std::memcpy(&entry, buffer_.data() + offset, sizeof entry);
            const std::size_t name_offset = offset + offsetof(FILE_NOTIFY_INFORMATION, FileName);
            if (name_offset + entry.FileNameLength > bytes) break;  // never past what Windows wrote
            std::array<wchar_t, 64> name{};
            const std::size_t length = std::min<std::size_t>(entry.FileNameLength / sizeof(wchar_t), name.size());
            std::memcpy(name.data(), buffer_.data() + name_offset, length * sizeof(wchar_t));
            if (is_journal_name(name.data(), length)) journal_changed = true;
            if (entry.NextEntryOffset == 0) break;
            offset += entry.NextEntryOffset;
        }
        if (journal_changed) handler_(std::nullopt);
        if (auto problem = start_read()) handler_(problem);
    }

    win::UniqueHandle directory_;
    boost::asio::windows::object_handle signalled_;  // owns and closes the event
    std::filesystem::path folder_;
    Handler handler_;
    OVERLAPPED overlapped_{};
    alignas(DWORD) std::array<unsigned char, 16 * 1024> buffer_{};
    bool pending_ = false;
};

}  // namespace

Result<std::shared_ptr<void>> watch_journal_folder(
    boost::asio::io_context& io, const std::filesystem::path& state_dir,
    std::function<void(const std::optional<std::string>& problem)> changed) {
    win::UniqueHandle directory(::CreateFileW(state_dir.c_str(), FILE_LIST_DIRECTORY,
                                         FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr, OPEN_EXISTING,
                                         FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OVERLAPPED, nullptr));
    if (!directory) {
        return win::last_error_failure("certheal could not open " + win::to_utf8(state_dir.wstring()) +
                                       " to watch it for new journal lines");
    }
    const HANDLE event = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
    if (event == nullptr) return win::last_error_failure("certheal could not create an event to watch the journal");
    auto watch = std::make_shared<DirectoryJournalWatch>(io, std::move(directory), event, state_dir, std::move(changed));
    if (auto problem = watch->start_read()) return Failure{std::make_error_code(std::errc::io_error), *problem};
    return std::shared_ptr<void>(watch);
}

}  // namespace certheal::platform
