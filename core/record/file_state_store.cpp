#include "core/record/file_state_store.hpp"
#include "core/base/text.hpp"

namespace certheal {

FileStateStore::FileStateStore(std::filesystem::path state_dir, OwnFiles& files)
    : state_dir_(std::move(state_dir)), path_(state_dir_ / "state.json"), files_(files) {}

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
