#pragma once
// Waiting in tests that drive real processes (lab and Wine tests; unit tests use the fake clock
// and never wait): one bounded poll for a condition the process's own output makes true.

#include <chrono>
#include <functional>
#include <thread>

namespace certheal::test {

// Polls `condition` every 50 ms until it holds or `limit` has passed; true when it held.
inline bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return condition();
}

}  // namespace certheal::test
