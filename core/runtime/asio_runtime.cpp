#include "core/runtime/asio_runtime.hpp"

#include <algorithm>

#include "core/base/duration.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

namespace certheal {
namespace {

// Shared by the handle and the pending wait, so either may outlive the other.
struct TimerState {
    explicit TimerState(boost::asio::io_context& io) : timer(io) {}
    boost::asio::steady_timer timer;
    std::atomic<bool> cancelled{false};
};

class AsioTimerHandle : public TimerHandle {
public:
    explicit AsioTimerHandle(std::shared_ptr<TimerState> state) : state_(std::move(state)) {}
    ~AsioTimerHandle() noexcept override {
        try {
            cancel();
        } catch (...) {
            // Only the wake-up could not be queued (no memory): the flag is set, so the callback
            // never runs, and the timer just expires on its own.
        }
    }

    void cancel() override {
        if (!state_ || state_->cancelled.exchange(true)) return;
        // The timer object belongs to the io_context's thread; cancelling there avoids a data
        // race when the handle is dropped elsewhere. The flag alone already stops the callback.
        boost::asio::dispatch(state_->timer.get_executor(), [state = state_] { state->timer.cancel(); });
    }

private:
    std::shared_ptr<TimerState> state_;
};

}  // namespace

AsioClock::AsioClock(boost::asio::io_context& io) : io_(io) {}

TimePoint AsioClock::wall_now() const { return std::chrono::system_clock::now(); }

MonotonicTime AsioClock::monotonic_now() const { return std::chrono::steady_clock::now(); }

std::unique_ptr<TimerHandle> AsioClock::after(Duration delay, std::function<void()> callback) {
    auto state = std::make_shared<TimerState>(io_);
    // Config durations are bounded already; the clamp keeps any other caller from overflowing
    // the timer's nanoseconds.
    state->timer.expires_after(std::clamp(delay, Duration::zero(), kLongestDuration));
    state->timer.async_wait([state, callback = std::move(callback)](const boost::system::error_code& error) {
        if (error || state->cancelled.load()) return;
        state->cancelled.store(true);  // fired: a later cancel() has nothing to do
        callback();
    });
    return std::make_unique<AsioTimerHandle>(std::move(state));
}

ThreadWorkerPool::ThreadWorkerPool(boost::asio::io_context& io, std::size_t threads)
    : io_(io), threads_(threads == 0 ? 1 : threads) {}

ThreadWorkerPool::~ThreadWorkerPool() { join(); }

void ThreadWorkerPool::submit(std::function<void()> work, std::function<void()> done) {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    if (!pool_) pool_.emplace(threads_);
    // The io_context has work until `done` is posted: a command whose only pending work is this
    // job (certheal repair with a trust step first) would otherwise see io.run() return at once
    // and never hear back.
    boost::asio::post(*pool_, [this, work = std::move(work), done = std::move(done),
                               busy = boost::asio::make_work_guard(io_)]() mutable {
        try {
            if (work) work();
        } catch (...) {
            // Work must not throw; if it does, `done` still runs so the monitor is not left waiting.
        }
        if (done) boost::asio::post(io_, std::move(done));
        busy.reset();
    });
}

void ThreadWorkerPool::join() {
    {
        std::lock_guard lock(mutex_);
        closed_ = true;
    }
    // Closed: no submit starts the pool any more, so it can be read without the lock. Joining
    // twice is harmless.
    if (pool_) pool_->join();
}

}  // namespace certheal
