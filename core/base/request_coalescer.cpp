#include "core/base/request_coalescer.hpp"

#include <algorithm>

namespace certheal {

RequestCoalescer::RequestCoalescer(Clock& clock, Duration quiet, Duration longest, Action action)
    : clock_(clock), quiet_(quiet), longest_(std::max(longest, quiet)), action_(std::move(action)) {}

void RequestCoalescer::request() {
    const auto now = clock_.monotonic_now();
    last_ = now;
    if (pending_++ == 0) {
        first_ = now;
        arm(now + quiet_);
    }
    // Later requests only move `last_`: the timer checks it when it fires, so a burst of a
    // thousand costs one timer, not a thousand.
}

void RequestCoalescer::arm(MonotonicTime due_at) {
    const auto delay = std::chrono::ceil<Duration>(due_at - clock_.monotonic_now());
    timer_ = clock_.after(std::max(delay, Duration::zero()), [this] { due(); });
}

void RequestCoalescer::due() {
    const auto now = clock_.monotonic_now();
    const auto quiet_at = last_ + quiet_;
    const auto latest_at = first_ + longest_;
    if (now < quiet_at && now < latest_at) {
        arm(std::min(quiet_at, latest_at));  // requests came since: wait for them to stop
        return;
    }
    const auto answered = pending_;
    pending_ = 0;
    timer_.reset();
    if (answered > 0 && action_) action_(answered);
}

void RequestCoalescer::cancel() {
    pending_ = 0;
    timer_.reset();
}

}  // namespace certheal
