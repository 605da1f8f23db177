#pragma once
// Echoes events on stderr for the person running `certheal run --console` or `certheal repair`.

#include <iostream>

#include "core/model/events.hpp"
#include "core/record/journal.hpp"

namespace certheal {

class ConsoleEcho : public EventSink {
public:
    void emit(const Event& event) override {
        // The same lines as `certheal history`: a failed step's output is on the console too.
        std::cerr << format_event_line(event) << '\n';
    }
};

// Marks every event that passes as part of an operator's command ("manual": true), so the
// journal tells a repair by hand from the service's own.
class ManualEventSink : public EventSink {
public:
    explicit ManualEventSink(EventSink& next) : next_(next) {}
    void emit(const Event& event) override {
        Event marked = event;
        if (!marked.details.is_object()) marked.details = nlohmann::json::object();
        marked.details["manual"] = true;
        next_.emit(marked);
    }

private:
    EventSink& next_;
};

}  // namespace certheal
