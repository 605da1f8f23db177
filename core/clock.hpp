#pragma once
// Clock port: wall time for records and policy, and one-shot timers for scheduling.
// Production uses an io_context-backed clock; tests use FakeClock and advance it.

#include <chrono>
#include <functional>
#include <memory>

namespace certheal {

using Duration = std::chrono::milliseconds;
using TimePoint = std::chrono::system_clock::time_point;

// Cancels its timer when cancel() is called or when the last owner lets go.
class TimerHandle {
public:
    virtual ~TimerHandle() = default;
    virtual void cancel() = 0;
};

class Clock {
public:
    virtual ~Clock() = default;
    virtual TimePoint now() const = 0;
    // Runs `callback` once, on the monitor's thread, `delay` from now.
    // The timer is cancelled when the returned handle is destroyed.
    [[nodiscard]] virtual std::unique_ptr<TimerHandle> after(Duration delay, std::function<void()> callback) = 0;
};

}  // namespace certheal
