#pragma once
// Echoes events on stderr for the person running `certheal run --console` or `certheal repair`.

#include <iostream>

#include "core/model/events.hpp"
#include "core/base/time_format.hpp"

namespace certheal {

class ConsoleEcho : public EventSink {
public:
    void emit(const Event& event) override {
        std::cerr << format_time_utc(event.time) << "  " << definition_of(event.id).name;
        if (!event.site.empty()) std::cerr << "  " << event.site;
        if (!event.incident.empty()) std::cerr << "  [" << event.incident << "]";
        std::cerr << "  " << event.message << '\n';
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
