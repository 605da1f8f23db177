// A preload library for the lab: shifts the wall clock of the process it is loaded into (and only
// the wall clock: CLOCK_REALTIME through clock_gettime, gettimeofday and time) by a number of
// seconds read from the file named by CERTHEAL_WALL_CLOCK_SHIFT_FILE, re-read at most every
// 100 ms, so a test can step a running certheal's clock forward and back. The monotonic clock,
// and so every timer, is left alone.
//
// Why not libfaketime (Debian's faketime): with any offset it also rewrites the absolute
// timerfd_settime() calls that Boost.Asio makes on its CLOCK_MONOTONIC timerfd, so a timer that
// is due at once is never armed and certheal's io_context waits forever.
//
//   LD_PRELOAD=libcertheal_wall_clock_shift.so CERTHEAL_WALL_CLOCK_SHIFT_FILE=/tmp/shift certheal run
//   echo -72000 >/tmp/shift   # the clock is set back 20 hours
#include <dlfcn.h>
#include <sys/time.h>
#include <time.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace {

using ClockGettime = int (*)(clockid_t, timespec*);

ClockGettime real_clock_gettime() {
    static const auto real = reinterpret_cast<ClockGettime>(dlsym(RTLD_NEXT, "clock_gettime"));
    return real;
}

std::atomic<long long> g_shift_seconds{0};
std::atomic<long long> g_read_at_ms{-1000000};

long long shift_seconds() {
    timespec now{};
    real_clock_gettime()(CLOCK_MONOTONIC, &now);
    const long long now_ms = static_cast<long long>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
    if (now_ms - g_read_at_ms.load() >= 100) {
        g_read_at_ms = now_ms;
        if (const char* path = std::getenv("CERTHEAL_WALL_CLOCK_SHIFT_FILE")) {
            if (FILE* file = std::fopen(path, "r")) {
                long long seconds = 0;
                if (std::fscanf(file, "%lld", &seconds) == 1) g_shift_seconds = seconds;
                std::fclose(file);
            }
        }
    }
    return g_shift_seconds.load();
}

bool is_wall_clock(clockid_t clock) {
    return clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE || clock == CLOCK_TAI;
}

}  // namespace

extern "C" {

int clock_gettime(clockid_t clock, timespec* time) noexcept {
    const int result = real_clock_gettime()(clock, time);
    if (result == 0 && is_wall_clock(clock)) time->tv_sec += shift_seconds();
    return result;
}

int gettimeofday(timeval* time, void*) noexcept {
    timespec now{};
    const int result = clock_gettime(CLOCK_REALTIME, &now);
    if (result == 0) {
        time->tv_sec = now.tv_sec;
        time->tv_usec = now.tv_nsec / 1000;
    }
    return result;
}

time_t time(time_t* out) noexcept {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    if (out != nullptr) *out = now.tv_sec;
    return now.tv_sec;
}

}  // extern "C"
