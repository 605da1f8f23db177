#pragma once
// Events to the Windows Application Event Log, source "certheal".
// The event ID is certheal's own number (1000..3999), the type follows the severity, and the
// one insertion string is the event's sentence with its site and incident. The message file
// that renders "%1" is registered by `certheal install` (service/win/events.mc, to come).
// Under Wine ReportEventW is a stub that only traces the strings (WINEDEBUG=+eventlog).

#include <string>

#include "core/events.hpp"
#include "service/win/handles.hpp"

namespace certheal::win {

// "site=intranet incident=20261124T223105-1: <message>"; site= and incident= are left out
// when the event has none. The event name is not repeated: the ID says it.
std::string format_event_log_text(const Event& event);

class EventLogSink final : public EventSink {
public:
    explicit EventLogSink(const wchar_t* source = L"certheal");
    ~EventLogSink() override;
    EventLogSink(const EventLogSink&) = delete;
    EventLogSink& operator=(const EventLogSink&) = delete;

    // Never throws; an event the Event Log refuses is dropped (the journal has it).
    void emit(const Event& event) override;

private:
    HANDLE source_ = nullptr;  // RegisterEventSourceW; DeregisterEventSource in the destructor
};

}  // namespace certheal::win
