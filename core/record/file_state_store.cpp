#include "core/record/file_state_store.hpp"
#include "core/base/text.hpp"

namespace certheal {

FileStateStore::FileStateStore(std::filesystem::path state_dir, OwnFiles& files, std::unique_ptr<StateLock> lock)
    : state_dir_(std::move(state_dir)), path_(state_dir_ / "state.json"), files_(files), lock_(std::move(lock)) {}

Result<Done> FileStateStore::update(const Merge& merge) {
    std::error_code folder_error;
    std::filesystem::create_directories(state_dir_, folder_error);  // where the lock lives
    struct Held {
        StateLock* lock = nullptr;
        ~Held() {
            if (lock) lock->release();
        }
    } held;
    if (lock_) {
        const auto taken = lock_->acquire(kLockWait);
        if (!taken) {
            return Failure{taken.error().code, taken.error().message + ". The repair budget is kept in memory only."};
        }
        if (!taken.value()) {
            return Failure{std::make_error_code(std::errc::resource_unavailable_try_again),
                           "another certheal process held the lock on " + path_.string() + " for more than " +
                               std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kLockWait).count()) +
                               " s. The repair budget is kept in memory only"};
        }
        held.lock = lock_.get();
    }
    // A state that cannot be read (too large, damaged) is replaced by what the caller merges
    // without it; load() said so when it first met it.
    auto saved = load();
    return save(merge(saved ? saved.value() : std::nullopt));
}

Result<std::optional<std::string>> FileStateStore::load() {
    auto loaded = files_.read(path_, kMaxStateBytes);
    if (!loaded) {
        return Failure{loaded.error().code, "certheal could not read its saved state: " +
                                                as_clause(loaded.error().message) +
                                                ". It starts with a fresh repair budget; remove or fix the file."};
    }
    return std::move(loaded.value());
}

Result<Done> FileStateStore::save(const std::string& contents) {
    std::error_code folder_error;
    std::filesystem::create_directories(state_dir_, folder_error);
    if (folder_error) {
        return Failure{folder_error, "certheal could not create its state folder " + state_dir_.string() + ": " +
                                         folder_error.message() + "."};
    }
    // The repair history is certheal's own business (POSIX mode 0600; on Windows the state
    // folder's ACL protects it).
    using std::filesystem::perms;
    if (auto written = files_.write_atomically(path_, contents, perms::owner_read | perms::owner_write); !written) {
        return Failure{written.error().code, as_clause(written.error().message) +
                                                 ". The repair budget is kept in memory only."};
    }
    return success();
}

}  // namespace certheal
