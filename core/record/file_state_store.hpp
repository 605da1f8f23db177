#pragma once
// The repair policy's persisted state (attempt history, circuit) in <state_dir>/state.json.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "core/model/ports.hpp"

namespace certheal {

// Replaces `target` with `source` in one step. The default (std::filesystem::rename) is atomic
// on POSIX; a platform may swap in something better (Windows: MoveFileExW with
// MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH) through FileStateStore's constructor.
using ReplaceFile = std::function<std::error_code(const std::filesystem::path& source,
                                                  const std::filesystem::path& target)>;

// The portable replace: rename, and if the platform refuses to rename over an existing file,
// remove the target and rename again. The fallback leaves a short window with no state file; a
// crash inside it loses the saved budget, which the caller treats like a first start.
std::error_code replace_file_portably(const std::filesystem::path& source, const std::filesystem::path& target);

// Writes `contents` to `file` through `<file>.tmp` in the same folder (given `mode`) and one
// replace, so a reader sees the old or the new text, never part of one. The temporary's name
// does not end like the file's: a collector that reads every *.prom never picks it up. A
// Failure names the file and the error, as a clause the caller may extend.
Result<Done> write_file_atomically(const std::filesystem::path& file, const std::string& contents,
                                   std::filesystem::perms mode, const ReplaceFile& replace = replace_file_portably);

class FileStateStore : public StateStore {
public:
    static constexpr std::uintmax_t kMaxStateBytes = std::uintmax_t{1024} * 1024;

    // How long update() waits for another certheal process's read-merge-write to finish.
    static constexpr Duration kLockWait = std::chrono::seconds(5);

    // `lock`: the state lock every certheal process of the host takes around update(); none
    // (unit tests, one process) leaves update() unlocked.
    explicit FileStateStore(std::filesystem::path state_dir, ReplaceFile replace = replace_file_portably,
                            std::unique_ptr<StateLock> lock = nullptr);
    FileStateStore(std::filesystem::path state_dir, std::unique_ptr<StateLock> lock)
        : FileStateStore(std::move(state_dir), replace_file_portably, std::move(lock)) {}

    // The file's text, or nullopt when there is none yet. Whether the text makes sense is for
    // the caller to judge; a Failure means the file exists but could not be read.
    Result<std::optional<std::string>> load() override;

    // Writes state.json.tmp, closes it, then replaces state.json with it, so a reader sees the
    // old or the new state, never half of one. Standard C++ has no fsync: the data reaches the
    // disk when the OS flushes it, so a power cut right after save() may keep the old state.
    Result<Done> save(const std::string& contents) override;

    // load(), merge and save() under the state lock, so that the service and `certheal repair`
    // or `certheal resume` never save over each other's changes.
    Result<Done> update(const Merge& merge) override;

    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path state_dir_;
    std::filesystem::path path_;
    ReplaceFile replace_;
    std::unique_ptr<StateLock> lock_;
};

}  // namespace certheal
