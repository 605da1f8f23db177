#pragma once
// The one table of everything certheal records. IDs are stable: the journal, syslog and
// the Windows Event Log message table (service/win/events.mc) all use these numbers.
// docs/events.md documents this table; a unit test keeps the two in step.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/base/clock.hpp"

namespace certheal {

enum class EventId : std::uint16_t {
    service_started = 1000,
    service_stopped = 1001,
    config_invalid = 1002,
    config_reloaded = 1003,
    status_endpoint_failed = 1004,
    storage_failed = 1005,
    storage_recovered = 1006,
    paused = 1007,
    unpaused = 1008,
    probe_failed = 2000,
    symptom_confirmed = 2001,
    site_recovered = 2002,
    certificate_expiring = 2003,
    root_store_misplaced = 2004,
    host_trust_changed = 2005,
    client_cert_changed = 2006,
    probe_recovered = 2007,
    repair_started = 3000,
    step_succeeded = 3001,
    step_failed = 3002,
    repair_succeeded = 3003,
    repair_failed = 3004,
    repair_skipped = 3005,
    circuit_opened = 3006,
    circuit_closed = 3007,
    stage_started = 3008,
    stage_skipped = 3009,
    stage_succeeded = 3010,
    stage_failed = 3011,
};

enum class Severity { information, warning, error };

struct EventDefinition {
    EventId id;
    std::string_view name;
    Severity severity;
    std::string_view meaning;  // when it is written and what an admin should do
    std::string_view fields;   // detail fields beyond time/id/event/site/incident/message
};

std::span<const EventDefinition> event_table() noexcept;
const EventDefinition& definition_of(EventId id) noexcept;
std::optional<EventId> event_id_from_name(std::string_view name) noexcept;
std::string_view to_string(Severity severity) noexcept;

struct Event {
    EventId id{};
    TimePoint time{};
    std::string site;      // empty when the event is not about one site
    std::string incident;  // ties symptom -> repair -> outcome together; empty when none
    std::string message;   // a full sentence an admin can act on
    nlohmann::json details = nlohmann::json::object();  // evidence: class, status, timings, step...
};

// Where events go: journal, syslog, Event Log. Implementations must not throw and must
// never receive secrets (callers never put passwords into events).
class EventSink {
public:
    virtual ~EventSink() = default;
    virtual void emit(const Event& event) = 0;
};

}  // namespace certheal
