#include "core/record/file_state_store.hpp"
#include "core/base/text.hpp"

#include <cerrno>
#include <fstream>
#include <iterator>
#include <sstream>

namespace certheal {
std::error_code replace_file_portably(const std::filesystem::path& source, const std::filesystem::path& target) {
    std::error_code error;
    std::filesystem::rename(source, target, error);
    if (!error) return {};
    // Some platforms (older Windows runtimes) refuse to rename over an existing file.
    std::error_code exists_error;
    if (!std::filesystem::exists(target, exists_error)) return error;
    std::error_code remove_error;
    std::filesystem::remove(target, remove_error);
    if (remove_error) return remove_error;
    std::filesystem::rename(source, target, error);
    return error;
}

Result<Done> write_file_atomically(const std::filesystem::path& file, const std::string& contents,
                                   std::filesystem::perms mode, const ReplaceFile& replace) {
    auto temporary = file;
    temporary += ".tmp";
    {
        errno = 0;
        std::ofstream out(temporary, std::ios::out | std::ios::trunc | std::ios::binary);
        if (!out) {
            const auto code = last_os_error_or(std::errc::permission_denied);
            return Failure{code, "certheal could not write " + temporary.string() + ": " + code.message()};
        }
        out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
        out.close();
        if (!out) {
            const auto code = last_os_error_or(std::errc::io_error);
            std::error_code ignored;
            std::filesystem::remove(temporary, ignored);
            return Failure{code, "certheal could not write " + temporary.string() + ": " + code.message() +
                                     " (check free disk space)"};
        }
    }
    std::error_code mode_error;
    std::filesystem::permissions(temporary, mode, std::filesystem::perm_options::replace, mode_error);
    if (const auto error = (replace ? replace : ReplaceFile(replace_file_portably))(temporary, file)) {
        std::error_code ignored;
        std::filesystem::remove(temporary, ignored);
        return Failure{error, "certheal could not replace " + file.string() + ": " + error.message()};
    }
    return success();
}

FileStateStore::FileStateStore(std::filesystem::path state_dir, ReplaceFile replace, std::unique_ptr<StateLock> lock)
    : state_dir_(std::move(state_dir)),
      path_(state_dir_ / "state.json"),
      replace_(std::move(replace)),
      lock_(std::move(lock)) {
    if (!replace_) replace_ = replace_file_portably;
}

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
    std::error_code status_error;
    const auto status = std::filesystem::status(path_, status_error);
    if (status.type() == std::filesystem::file_type::not_found) return std::optional<std::string>{};
    if (status_error) {
        return Failure{status_error, "certheal could not look at its saved state " + path_.string() + ": " +
                                         status_error.message() + ". It starts with a fresh repair budget."};
    }
    if (status.type() != std::filesystem::file_type::regular) {
        return Failure{std::make_error_code(std::errc::is_a_directory),
                       "certheal's saved state " + path_.string() +
                           " is not a regular file. Remove it; certheal starts with a fresh repair budget."};
    }
    // A state certheal wrote is a few KiB; a bigger file is not ours to read whole.
    if (std::error_code size_error; std::filesystem::file_size(path_, size_error) > kMaxStateBytes) {
        return Failure{std::make_error_code(std::errc::file_too_large),
                       "certheal's saved state " + path_.string() + " is larger than " +
                           std::to_string(kMaxStateBytes / 1024) +
                           " KiB, which certheal never writes. It starts with a fresh repair budget; check the file."};
    }
    errno = 0;
    std::ifstream in(path_, std::ios::in | std::ios::binary);
    if (!in) {
        const auto code = last_os_error_or(std::errc::permission_denied);
        return Failure{code, "certheal could not read its saved state " + path_.string() + ": " + code.message() +
                                 ". It starts with a fresh repair budget."};
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        const auto code = std::make_error_code(std::errc::io_error);
        return Failure{code, "certheal could not read its saved state " + path_.string() + ": " + code.message() +
                                 ". It starts with a fresh repair budget."};
    }
    return std::optional<std::string>{text.str()};
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
    if (auto written = write_file_atomically(path_, contents, perms::owner_read | perms::owner_write, replace_);
        !written) {
        return Failure{written.error().code, written.error().message + ". The repair budget is kept in memory only."};
    }
    return success();
}

}  // namespace certheal
