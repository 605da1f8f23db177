#pragma once
// The production Clock and WorkerPool: timers on the monitor's io_context, blocking work on a
// small thread pool whose results come back to that io_context.

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "core/base/clock.hpp"
#include "core/model/ports.hpp"

namespace certheal {

// now() is the system clock (records and policy need wall time); after() uses a steady timer
// so a wall-clock jump neither fires nor delays a timer. Callbacks run on the thread that runs
// the io_context. The handle may be cancelled or dropped from any thread: a callback whose
// handle was cancelled never runs, even if its timer had already expired.
class AsioClock : public Clock {
public:
    explicit AsioClock(boost::asio::io_context& io);

    TimePoint wall_now() const override;
    MonotonicTime monotonic_now() const override;
    [[nodiscard]] std::unique_ptr<TimerHandle> after(Duration delay, std::function<void()> callback) override;

private:
    boost::asio::io_context& io_;
};

// Runs work on `threads` worker threads (two by default: one repair step at a time, plus room
// for a slow call that is being cancelled) and posts `done` back to the io_context. The
// threads start with the first submission: a host that never repairs never pays for them.
// If `work` throws, `done` still runs, so the monitor never waits forever; work that reports a
// result should set a failure first and overwrite it on success.
class ThreadWorkerPool : public WorkerPool {
public:
    explicit ThreadWorkerPool(boost::asio::io_context& io, std::size_t threads = 2);
    ~ThreadWorkerPool() override;  // joins

    ThreadWorkerPool(const ThreadWorkerPool&) = delete;
    ThreadWorkerPool& operator=(const ThreadWorkerPool&) = delete;

    // After join() has begun, submissions are dropped (neither `work` nor `done` runs).
    void submit(std::function<void()> work, std::function<void()> done) override;

    // Stops taking work and waits for everything already submitted to finish (cancel long work
    // through its stop_token first). Their `done` callbacks are posted to the io_context; they
    // run only if something runs the io_context afterwards. Safe to call more than once.
    void join();

private:
    boost::asio::io_context& io_;
    std::size_t threads_;
    std::mutex mutex_;
    std::optional<boost::asio::thread_pool> pool_;  // started by the first submit
    bool closed_ = false;
};

}  // namespace certheal
