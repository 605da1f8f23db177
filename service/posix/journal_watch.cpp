// `certheal history --follow` on Linux: inotify on the state folder, read through the
// io_context, so the follower sleeps until the kernel says a journal file changed.

#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <boost/asio/posix/stream_descriptor.hpp>

#include "service/platform.hpp"

namespace certheal::platform {
namespace {

// journal.jsonl and journal.<n>.jsonl; status.json, state.json and their temporaries (rewritten
// up to once a second by a busy service) wake nobody.
bool is_journal_name(std::string_view name) { return name.rfind("journal.", 0) == 0; }

class InotifyJournalWatch : public std::enable_shared_from_this<InotifyJournalWatch> {
public:
    using Handler = std::function<void(const std::optional<std::string>&)>;

    InotifyJournalWatch(boost::asio::io_context& io, int descriptor, std::filesystem::path folder, Handler handler)
        : stream_(io, descriptor), folder_(std::move(folder)), handler_(std::move(handler)) {}

    void wait() {
        stream_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                           [weak = weak_from_this()](const boost::system::error_code& error) {
                               if (auto self = weak.lock(); self && !error) self->on_readable();
                           });
    }

private:
    void on_readable() {
        // Events are whole records of sizeof(inotify_event) + len bytes; a read returns whole
        // ones. The buffer is aligned as the kernel's records are.
        alignas(inotify_event) std::array<char, std::size_t{16} * 1024> buffer{};
        bool journal_changed = false;
        std::optional<std::string> gone;
        for (;;) {
            const ssize_t got = ::read(stream_.native_handle(), buffer.data(), buffer.size());
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) break;  // EAGAIN: all read
            std::size_t offset = 0;
            const auto total = static_cast<std::size_t>(got);
            while (offset + sizeof(inotify_event) <= total) {
                inotify_event event{};
                std::memcpy(&event, buffer.data() + offset, sizeof event);
                const std::size_t record = sizeof(inotify_event) + event.len;
                if (record > total - offset) break;  // never walks past what the kernel wrote
                const char* name = buffer.data() + offset + sizeof(inotify_event);
                const std::string_view shown(name, event.len > 0 ? ::strnlen(name, event.len) : 0);
                if ((event.mask & IN_Q_OVERFLOW) != 0 || is_journal_name(shown)) journal_changed = true;
                if ((event.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT)) != 0) {
                    gone = "the state folder " + folder_.string() + " was removed or moved away";
                }
                offset += record;
            }
        }
        if (journal_changed) handler_(std::nullopt);
        if (gone) {
            handler_(gone);
            return;
        }
        wait();
    }

    boost::asio::posix::stream_descriptor stream_;  // owns and closes the inotify descriptor
    std::filesystem::path folder_;
    Handler handler_;
};

}  // namespace

Result<std::shared_ptr<void>> watch_journal_folder(
    boost::asio::io_context& io, const std::filesystem::path& state_dir,
    std::function<void(const std::optional<std::string>& problem)> changed) {
    const int descriptor = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (descriptor < 0) {
        const std::error_code error(errno, std::generic_category());
        return Failure{error, "certheal could not watch " + state_dir.string() + " for new journal lines (inotify: " +
                                  error.message() + "; raise fs.inotify.max_user_instances if it is exhausted)"};
    }
    constexpr std::uint32_t kMask =
        IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF;
    if (::inotify_add_watch(descriptor, state_dir.c_str(), kMask) < 0) {
        const std::error_code error(errno, std::generic_category());
        ::close(descriptor);
        return Failure{error, "certheal could not watch " + state_dir.string() + " for new journal lines: " +
                                  error.message() +
                                  (error.value() == ENOSPC ? " (raise fs.inotify.max_user_watches)" : "")};
    }
    auto watch = std::make_shared<InotifyJournalWatch>(io, descriptor, state_dir, std::move(changed));
    watch->wait();
    return std::shared_ptr<void>(watch);
}

}  // namespace certheal::platform
