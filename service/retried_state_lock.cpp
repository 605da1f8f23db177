#include "service/retried_state_lock.hpp"

#include <chrono>
#include <thread>

namespace certheal {

Result<bool> RetriedStateLock::acquire(Duration wait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
        auto taken = lock_->try_acquire();
        if (!taken || taken.value()) return taken;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

}  // namespace certheal
