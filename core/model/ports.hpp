#pragma once
// Ports: the small interfaces through which the portable core reaches the platform.
// Adapters live in service/posix/ and service/win/; tests use fakes (tests/support/).
//
// ServiceManager and ProcessRunner calls block (SCM waits, child processes). The core
// never calls them on the monitor thread: it hands them to a WorkerPool, which runs them
// on a small pool and posts the result back to the monitor's io_context.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "core/base/clock.hpp"
#include "core/model/probe_result.hpp"
#include "core/base/result.hpp"

namespace certheal {

struct SiteConfig;  // config/config.hpp

// --- services (SCM on Windows, systemd on Linux) --------------------------------
class ServiceManager {
public:
    virtual ~ServiceManager() = default;

    // Stops `service`. With `with_dependents`, first stops every *active* service that
    // depends on it (transitively, dependents before what they depend on), like
    // `net stop X /y`. Returns the dependents that were running and were stopped, in the
    // order they were stopped, so restore_dependents can start them again.
    // Stopping a service that is already stopped succeeds.
    virtual Result<std::vector<std::string>> stop_service(const std::string& service, bool with_dependents,
                                                          Duration timeout, std::stop_token cancel) = 0;

    // Starts the service's own dependencies first (certheal does not rely on the service
    // manager for ordering), then the service, and waits until it runs. Starting a
    // service that already runs succeeds.
    virtual Result<Done> start_service(const std::string& service, Duration timeout, std::stop_token cancel) = 0;
};

// --- child processes ----------------------------------------------------------------
struct ProcessOutcome {
    int exit_code = -1;
    bool timed_out = false;   // the whole process tree was killed at the deadline
    bool cancelled = false;   // certheal is stopping; the tree was killed
    std::string stdout_tail;  // last few KiB of each stream
    std::string stderr_tail;
    int terminating_signal = 0;  // POSIX: the signal that ended the program (exit_code is then 128 + it); 0 otherwise
    // Each entry is "<pid> <command name>" ("1234 sleep"), the program itself first.
    // After a timeout or cancel: the processes of the program's tree that certheal ended.
    std::vector<std::string> killed;
    // Processes of the program's tree still running when run() returned. After a normal exit:
    // what the program left behind (a daemon it started), which certheal leaves alone. After a
    // timeout or cancel: what could not be killed.
    std::vector<std::string> left_running;
};

class ProcessRunner {
public:
    virtual ~ProcessRunner() = default;
    // Runs `program` (absolute path) with `args`, no shell, a clean minimal environment and a
    // fixed working directory (README.md, "What a run step gets"). A Failure means it could
    // not be started at all; a non-zero exit or timeout is a successful Result.
    virtual Result<ProcessOutcome> run(const std::filesystem::path& program, const std::vector<std::string>& args,
                                       Duration timeout, std::stop_token cancel) = 0;
};

// --- persisted repair policy state (attempt history, circuit) --------------------------
class StateStore {
public:
    // Given what is saved now (nullopt when nothing is), returns what to save instead.
    using Merge = std::function<std::string(const std::optional<std::string>& saved)>;

    virtual ~StateStore() = default;
    // Empty optional when there is no saved state yet. A Failure means the state is
    // unreadable or corrupt; the caller reports it and starts afresh.
    virtual Result<std::optional<std::string>> load() = 0;
    // Replaces the saved state atomically (write a temporary file, then rename).
    virtual Result<Done> save(const std::string& contents) = 0;
    // Reads the saved state, hands it to `merge` and saves what merge returns, with no other
    // certheal process writing in between: a store that several processes share (the service
    // and the operator's commands) holds a lock across the read and the write. This default is
    // for a store only one process uses. A saved state that cannot be read is merged as none
    // (what merge returns replaces it). A Failure (the lock or the write) means nothing was
    // saved; `merge` may or may not have been called.
    virtual Result<Done> update(const Merge& merge) {
        auto saved = load();
        return save(merge(saved ? saved.value() : std::nullopt));
    }
};

// --- the state lock ---------------------------------------------------------------------
// Held by any certheal process for the few milliseconds of one read-merge-write of the saved
// state (POSIX: an flock on <state_dir>/state.lock; Windows: a named mutex). Not re-entrant;
// acquire and release on the same thread.
class StateLock {
public:
    virtual ~StateLock() = default;
    // Waits up to `wait` for the lock: true when taken, false when another holder kept it all
    // that time. A Failure means the lock itself could not be made.
    virtual Result<bool> acquire(Duration wait) = 0;
    virtual void release() noexcept = 0;
};

// --- the host-wide repair lock ------------------------------------------------------
// One repair at a time on a host, whoever starts it: the service's monitor and `certheal
// repair` both hold it for the length of a repair (Windows: a named mutex; POSIX: a lock file
// in state_dir). Not re-entrant; acquire and release on the same thread.
class RepairLock {
public:
    virtual ~RepairLock() = default;
    // Takes the lock without waiting: true when taken, false when another holder has it. A
    // Failure means the lock itself could not be made (the state folder is missing, ...).
    virtual Result<bool> try_acquire() = 0;
    virtual void release() noexcept = 0;
};

// --- files that other programs read (the web server's CA bundle) ------------------
// One file opened to be replaced: read once, through a handle that stays open, and replaced
// only while its name still names that very file.
class FileToReplace {
public:
    virtual ~FileToReplace() = default;
    // What the file held when it was opened, read through the open handle.
    virtual const std::string& contents() const = 0;
    // How many names (hard links) the file has. The replacement is a new file under this
    // name: the other names keep the old contents.
    virtual std::uint64_t link_count() const = 0;
    // Replaces the opened file with `contents` in one step: a reader sees the old or the new
    // contents, never part of either, and the new file keeps the old one's owner and
    // permissions (POSIX: uid, gid, mode, ACL and extended attributes such as security
    // labels; Windows: its ACL and attributes). Refused, with nothing written, when the name
    // no longer names the file that was opened. Blocks.
    virtual Result<Done> replace(const std::string& contents) = 0;
};

class FileReplacer {
public:
    virtual ~FileReplacer() = default;
    // Opens `file` to replace it later and reads it, at most `limit` bytes. Refused with a
    // sentence when it is not a regular file, is larger than `limit`, or when someone other
    // than the administrators could change the file or its folder (certheal writes it with
    // full privileges). Blocks: call it from the WorkerPool.
    virtual Result<std::unique_ptr<FileToReplace>> open(const std::filesystem::path& file, std::size_t limit) = 0;

    // open() and replace() in one call, for callers that need not look at the contents.
    Result<Done> replace_contents(const std::filesystem::path& file, const std::string& contents,
                                  std::size_t limit = std::size_t{16} * 1024 * 1024) {
        auto opened = open(file, limit);
        if (!opened) return opened.error();
        return opened.value()->replace(contents);
    }
};

// --- certheal's own files (the state folder, the metrics textfile) ------------------
// The files certheal writes with full privileges in folders it owns: the journal,
// state.json, status.json, certheal.prom. Whatever sits at one of these names (a symbolic
// link, a FIFO, a device, a file another account owns) is never followed, never opened for
// writing and never waited on: the call fails at once with a sentence saying what is there.
// Blocks (file I/O), briefly.
class OwnFiles {
public:
    virtual ~OwnFiles() = default;

    // Replaces (or creates) `file` with `contents` whole: a temporary file beside it with a
    // random name (core/base/temporary_name.hpp), created exclusively and given `mode`
    // through its handle (POSIX; on Windows the folder's ACL applies), flushed, then renamed
    // over `file`. A reader sees the old or the new contents; a link at `file` is replaced,
    // never followed. On failure the temporary is gone and `file` is as it was.
    virtual Result<Done> write_atomically(const std::filesystem::path& file, const std::string& contents,
                                          std::filesystem::perms mode) = 0;

    enum class Appended { yes, full };
    // Appends `record` to the regular file `file`, created with `mode` when missing, in one
    // write. `full`: nothing was written because the file already holds data and would pass
    // `limit` bytes with the record (the caller rotates it). A record not written whole is cut
    // back off, never left as part of a line.
    virtual Result<Appended> append(const std::filesystem::path& file, const std::string& record,
                                    std::filesystem::perms mode, std::uintmax_t limit) = 0;

    // The contents of the regular file `file`, or nothing when there is no file of that name.
    // Refused when something else is there or it holds more than `limit` bytes.
    virtual Result<std::optional<std::string>> read(const std::filesystem::path& file, std::size_t limit) = 0;
};

// --- probing ---------------------------------------------------------------------
class SiteProber {
public:
    virtual ~SiteProber() = default;
    // Starts one probe; `done` runs on the monitor's thread when it finishes.
    virtual void probe(const SiteConfig& site, std::function<void(ProbeResult)> done) = 0;
};

// --- running blocking work off the monitor thread --------------------------------
class WorkerPool {
public:
    virtual ~WorkerPool() = default;
    // Runs `work` on a worker thread, then `done` on the monitor's thread.
    virtual void submit(std::function<void()> work, std::function<void()> done) = 0;
};

}  // namespace certheal
