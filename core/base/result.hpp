#pragma once
// Expected-style results for calls that cross an OS or network boundary.
// std::expected is C++23; this is the small subset certheal needs.

#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace certheal {

// What went wrong at a boundary: the OS/library error code (a Win32 error keeps
// its GetLastError() value in std::system_category()) and a sentence for people.
struct Failure {
    std::error_code code;
    std::string message;
};

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : state_(std::move(value)) {}
    Result(Failure failure) : state_(std::move(failure)) {}

    bool ok() const noexcept { return state_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    T& value() & { return std::get<0>(state_); }
    const T& value() const& { return std::get<0>(state_); }
    T&& value() && { return std::get<0>(std::move(state_)); }
    const Failure& error() const { return std::get<1>(state_); }

private:
    std::variant<T, Failure> state_;
};

struct Done {};  // the value of a Result that only reports success

inline Result<Done> success() { return Done{}; }

}  // namespace certheal
