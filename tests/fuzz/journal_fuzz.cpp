// libFuzzer harness: <state_dir>/journal.jsonl as a crash, a full disk or an attacker leaves it.
// read_journal must read any file (with and without `since`) without a crash, a hang or an
// exception, and every record it returns must print, as `certheal history` prints it (one line
// for people, or the record's JSON with --json). parse_time_utc also gets the raw input.
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/record/journal.hpp"
#include "core/base/time_format.hpp"

namespace {

// parse_time_utc reads a fixed layout; longer text only repeats the same checks.
constexpr std::size_t kLongestTimeText = 64;

// The journal lives in an anonymous in-memory file (memfd), read through its /proc/self/fd path:
// each process has its own (parallel runs, libFuzzer -fork), and a crash leaves nothing behind.
class ScratchJournal {
public:
    ScratchJournal() : fd_(::memfd_create("certheal-journal-fuzz", MFD_CLOEXEC)) {
        if (fd_ < 0) {
            std::perror("journal_fuzz: memfd_create");
            std::abort();
        }
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    ScratchJournal(const ScratchJournal&) = delete;
    ScratchJournal& operator=(const ScratchJournal&) = delete;
    ~ScratchJournal() { ::close(fd_); }

    const std::filesystem::path& path() const { return path_; }

    void replace_contents(std::string_view text) const {
        if (::ftruncate(fd_, 0) != 0) std::abort();
        std::size_t written = 0;
        while (written < text.size()) {
            const auto n = ::pwrite(fd_, text.data() + written, text.size() - written, static_cast<off_t>(written));
            if (n <= 0) std::abort();
            written += static_cast<std::size_t>(n);
        }
    }

private:
    int fd_;
    std::filesystem::path path_;
};

const ScratchJournal& scratch_journal() {
    static const ScratchJournal journal;
    return journal;
}

// 2026-11-24T22:30:00Z: the seeds' records fall on both sides of it.
const certheal::TimePoint kSince{std::chrono::sys_days{std::chrono::year{2026} / 11 / 24} + std::chrono::hours{22} +
                                 std::chrono::minutes{30}};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (text.size() <= kLongestTimeText) (void)certheal::parse_time_utc(text);

    const ScratchJournal& journal = scratch_journal();
    journal.replace_contents(text);

    std::string warnings;
    const auto records = certheal::read_journal(journal.path(), std::nullopt, &warnings);
    for (const auto& record : records) {
        (void)certheal::format_event_line(record);
        (void)record.dump();
    }

    std::string since_warnings;
    for (const auto& record : certheal::read_journal(journal.path(), kSince, &since_warnings)) {
        (void)certheal::format_event_line(record);
    }
    return 0;
}
