#pragma once
// Clock port: wall time for records and for the policy that must survive a restart, monotonic
// time for durations and budgets (a clock step must not stretch or cut a repair step), and
// one-shot timers, which run on monotonic time. Production uses an io_context-backed clock;
// tests use FakeClock and advance it.

#include <chrono>
#include <functional>
#include <memory>

namespace certheal {

using Duration = std::chrono::milliseconds;
using TimePoint = std::chrono::system_clock::time_point;
using MonotonicTime = std::chrono::steady_clock::time_point;

// Cancels its timer when cancel() is called or when the last owner lets go.
class TimerHandle {
public:
    virtual ~TimerHandle() = default;
    virtual void cancel() = 0;
};

class Clock {
public:
    virtual ~Clock() = default;
    // Wall time: what events say and what the persisted repair history holds.
    virtual TimePoint wall_now() const = 0;
    // Monotonic time: for measuring how long something took or has left.
    virtual MonotonicTime monotonic_now() const = 0;
    // Runs `callback` once, on the monitor's thread, `delay` from now.
    // The timer is cancelled when the returned handle is destroyed.
    [[nodiscard]] virtual std::unique_ptr<TimerHandle> after(Duration delay, std::function<void()> callback) = 0;
};

}  // namespace certheal
