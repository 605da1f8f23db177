#pragma once
// The one run in progress of a Workflow or a RepairLadder, and the re-entrancy rules both keep:
// `done` may run before start() or cancel() returns and destroy the owner inside it, so neither
// touches the owner after handing over; destroying the owner abandons the run, whose late
// completions then find nothing and do nothing.
//
// `Execution` needs begin(), cancel(), abandon() and finished(). It may be incomplete where the
// owner is declared: the members below are used only where the owner is defined.

#include <memory>
#include <utility>

namespace certheal {

template <class Execution>
class CurrentExecution {
public:
    CurrentExecution() = default;
    ~CurrentExecution() {
        if (execution_) execution_->abandon();
    }
    CurrentExecution(const CurrentExecution&) = delete;
    CurrentExecution& operator=(const CurrentExecution&) = delete;

    // The caller has checked running(). Returns nothing the caller may use: begin() may finish
    // the run and let the owner destroy *this, so touch nothing afterwards.
    template <class... Args>
    void start(Args&&... args) {
        auto execution = std::make_shared<Execution>(std::forward<Args>(args)...);
        execution_ = execution;
        execution->begin();
    }

    void cancel() {
        if (auto execution = execution_) execution->cancel();  // the local copy keeps the execution alive if done destroys the owner
    }

    bool running() const { return execution_ && !execution_->finished(); }

private:
    std::shared_ptr<Execution> execution_;
};

}  // namespace certheal
