#pragma once
// Events to the Windows Application Event Log, source "certheal".
// Each event is reported with the full message-table ID that the message compiler generated
// from service/win/events.mc (severity bits | event ID): Event Viewer shows the low 16 bits
// (1000, 2001, ...: the journal's IDs) and renders the message text of certheal.exe with four
// insertion strings: %1 the event's sentence, %2 the site, %3 the incident, %4 the details.
// The event source's registry keys (EventMessageFile = certheal.exe) are written by the
// installer. Under Wine ReportEventW is a stub that only traces the strings
// (WINEDEBUG=+eventlog).

#include <windows.h>

#include <array>
#include <cstddef>
#include <optional>
#include <string>

#include "core/model/events.hpp"

namespace certheal::win {

// The Event Log refuses an insertion string longer than this (in UTF-16 code units).
inline constexpr std::size_t kEventLogStringLimit = 31839;

// What ReportEventW receives for one event.
struct EventLogRecord {
    WORD type = EVENTLOG_INFORMATION_TYPE;
    DWORD message_id = 0;  // the full ID of the event's message in certheal.exe's message table
    // %1 message, %2 site or "-", %3 incident or "-", %4 details as compact JSON; each capped
    // at kEventLogStringLimit.
    std::array<std::wstring, 4> strings;
};

// EVENTLOG_INFORMATION_TYPE, EVENTLOG_WARNING_TYPE or EVENTLOG_ERROR_TYPE.
WORD event_log_type(Severity severity) noexcept;

// The MSG_ constant windmc/mc generated for the event; nullopt for an ID events.mc lacks
// (a build of mismatched sources: the unit test events_mc_test keeps them in step).
std::optional<DWORD> event_log_message_id(EventId id) noexcept;

// `text` cut to at most `limit` UTF-16 code units, never inside a surrogate pair, ending in
// "..." when something was cut.
std::wstring cap_event_log_string(std::wstring text, std::size_t limit = kEventLogStringLimit);

EventLogRecord make_event_log_record(const Event& event);

class EventLogSink final : public EventSink {
public:
    explicit EventLogSink(const wchar_t* source = L"certheal");
    ~EventLogSink() override;
    EventLogSink(const EventLogSink&) = delete;
    EventLogSink& operator=(const EventLogSink&) = delete;

    // Never throws; an event the Event Log refuses is dropped (the journal has it).
    void emit(const Event& event) override;

    bool registered() const noexcept { return source_ != nullptr; }

private:
    HANDLE source_ = nullptr;  // RegisterEventSourceW; DeregisterEventSource in the destructor
};

}  // namespace certheal::win
