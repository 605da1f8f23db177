#pragma once
// The two locks certheal keeps in its state folder on POSIX, each on a file made as
// own_files.hpp makes them (never through a link, never a FIFO, a device or a file of
// another account):
// - repair.lock: flock, held for the length of one repair by the service or `certheal
//   repair`, released by the kernel when its holder dies;
// - certheal.pid: flock, held by `certheal run` for its whole life through a read-only
//   descriptor (one open for writing would keep the file system from being remounted
//   read-only), with its pid in the file. `status` and `resume` recognise the running service
//   by who holds that lock, as /proc/locks names it, without taking it themselves (which would
//   make a `run` starting at that moment think another one runs); the file's text is only the
//   fallback where the kernel cannot name the holder.
// Both compare the locked descriptor with the name (device and inode) and start again when
// the file was replaced between the open and the lock: a lock on a file nobody else can open
// any more would be no lock at all.

#include <functional>
#include <filesystem>
#include <memory>
#include <optional>

#include "core/model/ports.hpp"
#include "service/posix/file_descriptor.hpp"

namespace certheal::posix {

class FileRepairLock final : public RepairLock {
public:
    // `between_open_and_lock` runs after each open and before the flock: for tests that
    // replace the file at that moment.
    explicit FileRepairLock(std::filesystem::path file, std::function<void()> between_open_and_lock = {});
    ~FileRepairLock() override { release(); }
    FileRepairLock(const FileRepairLock&) = delete;
    FileRepairLock& operator=(const FileRepairLock&) = delete;

    // Makes the lock file if it is missing, so that later repairs can take it even when the
    // state folder can no longer be written to (a lock that exists needs no write).
    void prepare() noexcept;

    Result<bool> try_acquire() override;
    void release() noexcept override;

private:
    std::filesystem::path file_;
    std::function<void()> between_open_and_lock_;
    FileDescriptor descriptor_;
};

// `certheal run`'s lock on its state folder, held while the object lives. The pid file is
// removed when it goes, but only while it is still the file this process locked and wrote.
class InstanceLock {
public:
    struct Taken;
    // The lock, or the pid of the certheal that holds it (`holder`), or a Failure when the
    // pid file cannot be made (a link or a folder at its name, a read-only folder).
    struct Outcome {
        std::unique_ptr<InstanceLock> lock;
        std::optional<long long> holder;
    };
    static Result<Outcome> take(const std::filesystem::path& pid_file,
                                const std::function<void()>& between_open_and_lock = {});
    ~InstanceLock();
    InstanceLock(const InstanceLock&) = delete;
    InstanceLock& operator=(const InstanceLock&) = delete;

private:
    InstanceLock(std::filesystem::path file, FileDescriptor descriptor);
    std::filesystem::path file_;
    FileDescriptor descriptor_;
};

// The pid of the process holding `pid_file`'s instance lock, or nothing when no live process
// holds it (no file, a stale file, a pid that now names another program or a zombie).
std::optional<long long> instance_lock_holder(const std::filesystem::path& pid_file);

}  // namespace certheal::posix
