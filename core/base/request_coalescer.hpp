#pragma once
// Folds a burst of requests into one action. An operator's loop, a script that signals on every
// file change, or a hostile local user can send SIGHUP or SIGUSR1 a thousand times a second;
// answering each one would reload the configuration (or reset the breaker) and write an event a
// thousand times. The action runs once the requests have stopped for `quiet`, and at the latest
// `longest` after the first of them (a storm that never stops is answered every `longest`),
// with how many requests it answers.
//
// Single-threaded: request() on the clock's thread (signal handlers only post to it).

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>

#include "core/base/clock.hpp"

namespace certheal {

class RequestCoalescer {
public:
    using Action = std::function<void(std::size_t requests)>;

    RequestCoalescer(Clock& clock, Duration quiet, Duration longest, Action action);

    void request();
    std::size_t pending() const noexcept { return pending_; }
    // Drops what is pending (the service is stopping).
    void cancel();

private:
    void arm(MonotonicTime due);
    void due();

    Clock& clock_;
    Duration quiet_;
    Duration longest_;
    Action action_;
    std::size_t pending_ = 0;
    MonotonicTime first_{};
    MonotonicTime last_{};
    std::unique_ptr<TimerHandle> timer_;
};

}  // namespace certheal
