#pragma once
// The repair policy's persisted state (attempt history, circuit) in <state_dir>/state.json.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "core/model/ports.hpp"

namespace certheal {

class FileStateStore : public StateStore {
public:
    static constexpr std::uintmax_t kMaxStateBytes = std::uintmax_t{1024} * 1024;

    // How long update() waits for another certheal process's read-merge-write to finish.
    static constexpr Duration kLockWait = std::chrono::seconds(5);

    // Reads and writes through `files` (OwnFiles): never through a link, a FIFO or a device
    // planted at state.json's name. `lock`: the state lock every certheal process of the host
    // takes around update(); none (unit tests, one process) leaves update() unlocked.
    FileStateStore(std::filesystem::path state_dir, OwnFiles& files, std::unique_ptr<StateLock> lock = nullptr);

    // The file's text, or nullopt when there is none yet. Whether the text makes sense is for
    // the caller to judge; a Failure means something is there that could not be read.
    Result<std::optional<std::string>> load() override;

    // Writes a temporary file beside state.json and renames it over state.json, so a reader
    // sees the old or the new state, never half of one. Not flushed to the disk: a power cut
    // right after save() may keep the old state.
    Result<Done> save(const std::string& contents) override;

    // load(), merge and save() under the state lock, so that the service and `certheal repair`
    // or `certheal resume` never save over each other's changes.
    Result<Done> update(const Merge& merge) override;

    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path state_dir_;
    std::filesystem::path path_;
    OwnFiles& files_;
    std::unique_ptr<StateLock> lock_;
};

}  // namespace certheal
