#include "service/posix/syslog_sink.hpp"

#include <syslog.h>

namespace certheal {
namespace {

int priority_of(Severity severity) {
    switch (severity) {
        case Severity::information: return LOG_INFO;
        case Severity::warning: return LOG_WARNING;
        case Severity::error: return LOG_ERR;
    }
    return LOG_NOTICE;
}

}  // namespace

std::string format_syslog_message(const Event& event) {
    std::string text = std::string(definition_of(event.id).name) + " [" +
                       std::to_string(static_cast<int>(event.id)) + "]";
    if (!event.site.empty()) text += " site=" + event.site;
    if (!event.incident.empty()) text += " incident=" + event.incident;
    text += ": " + event.message;
    // The facts the sentence leaves to fields, as the Event Log's last insertion string has them.
    if (event.details.is_object() && !event.details.empty()) {
        text += " details=" + event.details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    // One event, one syslog line: a line break (from a site's answer or a program's output
    // quoted in a message) would start a forged line of its own.
    for (char& c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) c = ' ';
    }
    return text;
}

SyslogSink::SyslogSink() {
    // The ident must stay valid while the log is open: a string literal does.
    ::openlog("certheal", LOG_PID, LOG_DAEMON);
}

SyslogSink::~SyslogSink() { ::closelog(); }

void SyslogSink::emit(const Event& event) {
    try {
        const auto text = format_syslog_message(event);
        // Never pass event text as the format: a '%' in a message must stay text.
        ::syslog(priority_of(definition_of(event.id).severity), "%s", text.c_str());
    } catch (...) {
        // Only allocation can fail here; a sink must not throw.
    }
}

}  // namespace certheal
