#include "service/win/event_log_sink.hpp"

#include "service/win/win_error.hpp"

namespace certheal::win {

std::string format_event_log_text(const Event& event) {
    std::string text;
    if (!event.site.empty()) text += "site=" + event.site + " ";
    if (!event.incident.empty()) text += "incident=" + event.incident + " ";
    if (!text.empty()) {
        text.back() = ':';
        text += ' ';
    }
    text += event.message;
    return text;
}

EventLogSink::EventLogSink(const wchar_t* source) : source_(::RegisterEventSourceW(nullptr, source)) {}

EventLogSink::~EventLogSink() {
    if (source_ != nullptr) ::DeregisterEventSource(source_);
}

void EventLogSink::emit(const Event& event) {
    if (source_ == nullptr) return;
    WORD type = EVENTLOG_INFORMATION_TYPE;
    switch (definition_of(event.id).severity) {
        case Severity::information: type = EVENTLOG_INFORMATION_TYPE; break;
        case Severity::warning: type = EVENTLOG_WARNING_TYPE; break;
        case Severity::error: type = EVENTLOG_ERROR_TYPE; break;
    }
    try {
        const std::wstring text = to_utf16(format_event_log_text(event));
        const wchar_t* strings[] = {text.c_str()};
        ::ReportEventW(source_, type, 0, static_cast<DWORD>(event.id), nullptr, 1, 0, strings, nullptr);
    } catch (...) {
        // Out of memory while formatting: the journal still has the event.
    }
}

}  // namespace certheal::win
