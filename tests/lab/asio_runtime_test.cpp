#include <catch2/catch.hpp>

#include <filesystem>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "core/runtime/asio_runtime.hpp"

using namespace certheal;
using namespace std::chrono_literals;

TEST_CASE("an asio timer fires once after its delay on the io_context thread", "[asio_runtime]") {
    boost::asio::io_context io;
    AsioClock clock(io);
    int fired = 0;
    std::thread::id fired_on;
    const auto started = std::chrono::steady_clock::now();
    std::chrono::steady_clock::duration waited{};
    auto handle = clock.after(50ms, [&] {
        ++fired;
        fired_on = std::this_thread::get_id();
        waited = std::chrono::steady_clock::now() - started;
    });
    io.run_for(2s);
    CHECK(fired == 1);
    CHECK(fired_on == std::this_thread::get_id());
    CHECK(waited >= 50ms);
    CHECK(waited < 1s);
}

TEST_CASE("a cancelled asio timer never fires", "[asio_runtime]") {
    boost::asio::io_context io;
    AsioClock clock(io);
    bool fired = false;
    auto handle = clock.after(30ms, [&] { fired = true; });
    handle->cancel();
    io.run_for(200ms);
    CHECK_FALSE(fired);
}

TEST_CASE("dropping the timer handle cancels the timer", "[asio_runtime]") {
    boost::asio::io_context io;
    AsioClock clock(io);
    bool dropped_fired = false, kept_fired = false;
    { auto dropped = clock.after(30ms, [&] { dropped_fired = true; }); }
    auto kept = clock.after(30ms, [&] { kept_fired = true; });
    io.run_for(300ms);
    CHECK_FALSE(dropped_fired);
    CHECK(kept_fired);
}

TEST_CASE("a timer cancelled after it expired but before its callback ran does not fire", "[asio_runtime]") {
    boost::asio::io_context io;
    AsioClock clock(io);
    bool fired = false;
    auto handle = clock.after(1ms, [&] { fired = true; });
    std::this_thread::sleep_for(20ms);  // expired, but nobody has run the io_context yet
    handle->cancel();
    io.run_for(100ms);
    CHECK_FALSE(fired);
}

TEST_CASE("the asio clock tells wall time", "[asio_runtime]") {
    boost::asio::io_context io;
    AsioClock clock(io);
    const auto difference = clock.wall_now() - std::chrono::system_clock::now();
    CHECK(std::chrono::abs(difference) < 1s);
}

TEST_CASE("worker pool runs work off the io thread and done on it", "[asio_runtime]") {
    boost::asio::io_context io;
    auto guard = boost::asio::make_work_guard(io);
    ThreadWorkerPool pool(io);
    std::thread::id work_thread, done_thread;
    bool done_ran = false;
    pool.submit([&] { work_thread = std::this_thread::get_id(); },
                [&] {
                    done_thread = std::this_thread::get_id();
                    done_ran = true;
                    guard.reset();
                });
    io.run_for(2s);
    REQUIRE(done_ran);
    CHECK(work_thread != std::this_thread::get_id());
    CHECK(done_thread == std::this_thread::get_id());
}

TEST_CASE("the io_context keeps running while a worker job is out, so its done runs without other work",
          "[asio_runtime]") {
    boost::asio::io_context io;
    ThreadWorkerPool pool(io);
    bool done_ran = false;
    pool.submit([] { std::this_thread::sleep_for(100ms); }, [&] { done_ran = true; });
    io.run_for(5s);  // no work guard of its own: only the job keeps it running
    CHECK(done_ran);
    CHECK(io.stopped());
}

TEST_CASE("worker pool runs two blocking jobs at once", "[asio_runtime]") {
    boost::asio::io_context io;
    ThreadWorkerPool pool(io, 2);
    std::atomic<int> running{0}, most_at_once{0};
    auto job = [&] {
        const int now_running = ++running;
        int seen = most_at_once.load();
        while (now_running > seen && !most_at_once.compare_exchange_weak(seen, now_running)) {
        }
        std::this_thread::sleep_for(100ms);
        --running;
    };
    pool.submit(job, [] {});
    pool.submit(job, [] {});
    pool.join();
    CHECK(most_at_once.load() == 2);
}

TEST_CASE("joining the worker pool waits for running work, then drops new work", "[asio_runtime]") {
    boost::asio::io_context io;
    ThreadWorkerPool pool(io);
    std::atomic<bool> finished{false}, late_ran{false};
    int done_count = 0;
    pool.submit(
        [&] {
            std::this_thread::sleep_for(100ms);
            finished = true;
        },
        [&] { ++done_count; });
    pool.join();
    CHECK(finished.load());
    pool.submit([&] { late_ran = true; }, [&] { ++done_count; });
    pool.join();  // a second join is harmless
    io.run_for(100ms);
    CHECK_FALSE(late_ran.load());
    CHECK(done_count == 1);
}

TEST_CASE("work that throws still reports done", "[asio_runtime]") {
    boost::asio::io_context io;
    ThreadWorkerPool pool(io);
    bool done_ran = false;
    pool.submit([] { throw std::runtime_error("boom"); }, [&] { done_ran = true; });
    pool.join();
    io.run_for(100ms);
    CHECK(done_ran);
}

TEST_CASE("the worker pool starts its threads only with its first job", "[asio_runtime]") {
    const auto threads_of_this_process = [] {
        return std::distance(std::filesystem::directory_iterator("/proc/self/task"), std::filesystem::directory_iterator());
    };
    boost::asio::io_context io;
    const auto before = threads_of_this_process();
    ThreadWorkerPool pool(io, 2);
    CHECK(threads_of_this_process() == before);
    bool done = false;
    pool.submit([] {}, [&] { done = true; });
    CHECK(threads_of_this_process() == before + 2);
    auto guard = boost::asio::make_work_guard(io);
    for (int slice = 0; slice < 100 && !done; ++slice) io.run_for(std::chrono::milliseconds(50));
    CHECK(done);
}
