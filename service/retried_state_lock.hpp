#pragma once
// A StateLock made of a lock that can only be tried: the repair lock's kind (a flock on a file of
// its own on POSIX, a named mutex on Windows), held for the milliseconds of one read-merge-write
// of state.json. Neither kind can wait with a timeout as the port needs (flock has none; a mutex
// owned by a thread cannot be waited for with a timeout and still refuse a second holder in this
// process), so the lock is tried again every few milliseconds until `wait` has passed.

#include <memory>

#include "core/model/ports.hpp"

namespace certheal {

class RetriedStateLock final : public StateLock {
public:
    explicit RetriedStateLock(std::unique_ptr<RepairLock> lock) : lock_(std::move(lock)) {}

    Result<bool> acquire(Duration wait) override;
    void release() noexcept override { lock_->release(); }

private:
    std::unique_ptr<RepairLock> lock_;
};

}  // namespace certheal
