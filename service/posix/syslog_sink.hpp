#pragma once
// Events to syslog (and so to journald on systemd hosts), as facility daemon, ident "certheal".

#include <string>

#include "core/model/events.hpp"

namespace certheal {

// "symptom_confirmed [2001] site=intranet incident=20261124T223105-1: <message>"; site= and
// incident= are left out when the event has none. Details stay in the JSON journal.
std::string format_syslog_message(const Event& event);

// Priority follows the event's severity: information -> LOG_INFO, warning -> LOG_WARNING,
// error -> LOG_ERR. syslog() never reports failure, so neither does this sink. Opening the log
// is process-wide (openlog): keep one SyslogSink per process.
class SyslogSink : public EventSink {
public:
    SyslogSink();
    ~SyslogSink() override;
    SyslogSink(const SyslogSink&) = delete;
    SyslogSink& operator=(const SyslogSink&) = delete;

    void emit(const Event& event) override;
};

}  // namespace certheal
