// The Event Log side of certheal on Windows: the message table compiled into certheal.exe
// renders every event ID with its insertion strings, the sink maps events to the generated
// message IDs and event types, and it survives Wine's stub event source. Wine cannot read
// events back, so what Event Viewer finally shows is checked through FormatMessageW, the
// call Event Viewer makes with certheal.exe as the message file.

#include <windows.h>

#include <cstdio>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "core/model/events.hpp"
#include "service/win/event_log_sink.hpp"
#include "service/win/win_error.hpp"

using namespace certheal;
using namespace certheal::win;

namespace {

// CERTHEAL_EXE_PATH is the build's path: a Unix one in the cross build, which Wine shows on Z:.
std::wstring certheal_exe_path() {
    std::wstring path = to_utf16(CERTHEAL_EXE_PATH);
    if (!path.empty() && path.front() == L'/') {
        for (auto& c : path) {
            if (c == L'/') c = L'\\';
        }
        path = L"Z:" + path;
    }
    return path;
}

class DataModule {
public:
    explicit DataModule(const std::wstring& path)
        : module_(::LoadLibraryExW(path.c_str(), nullptr, LOAD_LIBRARY_AS_DATAFILE)) {}
    ~DataModule() {
        if (module_ != nullptr) ::FreeLibrary(module_);
    }
    DataModule(const DataModule&) = delete;
    DataModule& operator=(const DataModule&) = delete;
    HMODULE get() const { return module_; }

private:
    HMODULE module_;
};

// What Event Viewer does with a record: the message of `message_id` from the module, with
// the record's strings as %1..%n. Empty when the module has no such message.
std::wstring render(HMODULE module, DWORD message_id, const std::vector<std::wstring>& strings) {
    std::vector<DWORD_PTR> arguments;
    for (const auto& s : strings) arguments.push_back(reinterpret_cast<DWORD_PTR>(s.c_str()));
    wchar_t* buffer = nullptr;
    const DWORD length = ::FormatMessageW(
        FORMAT_MESSAGE_FROM_HMODULE | FORMAT_MESSAGE_ARGUMENT_ARRAY | FORMAT_MESSAGE_ALLOCATE_BUFFER, module,
        message_id, 0, reinterpret_cast<wchar_t*>(&buffer), 0, reinterpret_cast<va_list*>(arguments.data()));
    std::wstring text;
    if (length != 0 && buffer != nullptr) text.assign(buffer, length);
    if (buffer != nullptr) ::LocalFree(buffer);
    return text;
}

DWORD severity_bits_of(Severity severity) {
    switch (severity) {
        case Severity::information: return 1;  // STATUS_SEVERITY_INFORMATIONAL
        case Severity::warning: return 2;
        case Severity::error: return 3;
    }
    return 0;
}

Event sample_event(EventId id) {
    Event event;
    event.id = id;
    event.site = "intranet";
    event.incident = "20261124T223105-1";
    event.message = "certheal saw the site answer 403.7 three times in a row.";
    event.details = {{"class", "client_cert_required"}, {"status", 403}};
    return event;
}

}  // namespace

TEST_CASE("every event ID maps to its generated message ID with the event's severity bits", "[eventlog]") {
    for (const auto& def : event_table()) {
        INFO("event " << def.name);
        const auto message_id = event_log_message_id(def.id);
        REQUIRE(message_id.has_value());
        CHECK((*message_id & 0xFFFF) == static_cast<DWORD>(def.id));
        CHECK((*message_id >> 30) == severity_bits_of(def.severity));
        CHECK(((*message_id >> 16) & 0x3FFF) == 0);  // facility 0, no customer bit
    }
}

TEST_CASE("the event type follows the event's severity", "[eventlog]") {
    CHECK(event_log_type(Severity::information) == EVENTLOG_INFORMATION_TYPE);
    CHECK(event_log_type(Severity::warning) == EVENTLOG_WARNING_TYPE);
    CHECK(event_log_type(Severity::error) == EVENTLOG_ERROR_TYPE);
    CHECK(make_event_log_record(sample_event(EventId::repair_succeeded)).type == EVENTLOG_INFORMATION_TYPE);
    CHECK(make_event_log_record(sample_event(EventId::repair_skipped)).type == EVENTLOG_WARNING_TYPE);
    CHECK(make_event_log_record(sample_event(EventId::repair_failed)).type == EVENTLOG_ERROR_TYPE);
}

TEST_CASE("an event's record carries its message, site, incident and compact details", "[eventlog]") {
    const auto record = make_event_log_record(sample_event(EventId::symptom_confirmed));
    CHECK(record.message_id == *event_log_message_id(EventId::symptom_confirmed));
    CHECK(record.strings[0] == L"certheal saw the site answer 403.7 three times in a row.");
    CHECK(record.strings[1] == L"intranet");
    CHECK(record.strings[2] == L"20261124T223105-1");
    CHECK(record.strings[3] == L"{\"class\":\"client_cert_required\",\"status\":403}");
}

TEST_CASE("an event without site or incident shows a dash for them", "[eventlog]") {
    Event event;
    event.id = EventId::service_started;
    event.message = "certheal started.";
    event.details = {{"u", "caf\xC3\xA9 \xFF"}};  // one byte that is not UTF-8 must not throw
    const auto record = make_event_log_record(event);
    CHECK(record.strings[1] == L"-");
    CHECK(record.strings[2] == L"-");
    CHECK(record.strings[3] == L"{\"u\":\"caf\u00e9 \ufffd\"}");
}

TEST_CASE("an insertion string is capped at the Event Log's limit without splitting a surrogate pair",
          "[eventlog]") {
    CHECK(cap_event_log_string(L"short") == L"short");
    const std::wstring exact(kEventLogStringLimit, L'x');
    CHECK(cap_event_log_string(exact) == exact);

    const auto capped = cap_event_log_string(std::wstring(kEventLogStringLimit + 100, L'x'));
    CHECK(capped.size() == kEventLogStringLimit);
    CHECK(capped.substr(capped.size() - 3) == L"...");

    // U+1F512 (a padlock) as a surrogate pair straddling the cut: dropped whole.
    std::wstring straddling(kEventLogStringLimit - 4, L'x');
    straddling += L"\xD83D\xDD12";
    straddling += std::wstring(50, L'y');
    const auto cut = cap_event_log_string(straddling);
    CHECK(cut.size() <= kEventLogStringLimit);
    CHECK(cut.find(L'\xD83D') == std::wstring::npos);
    CHECK(cut.substr(cut.size() - 3) == L"...");

    Event huge = sample_event(EventId::step_failed);
    huge.details = {{"output_tail", std::string(40000, 'z')}};
    CHECK(make_event_log_record(huge).strings[3].size() == kEventLogStringLimit);
}

TEST_CASE("certheal.exe's message table renders every event with its four insertion strings", "[eventlog]") {
    const DataModule exe(certheal_exe_path());
    INFO("certheal.exe at " << to_utf8(certheal_exe_path()) << ", error " << ::GetLastError());
    REQUIRE(exe.get() != nullptr);
    for (const auto& def : event_table()) {
        INFO("event " << def.name);
        const Event event = sample_event(def.id);
        const auto record = make_event_log_record(event);
        const std::vector<std::wstring> strings(record.strings.begin(), record.strings.end());
        const std::wstring text = render(exe.get(), record.message_id, strings);
        INFO("rendered: " << to_utf8(text));
        REQUIRE(!text.empty());
        CHECK(text.find(record.strings[0]) != std::wstring::npos);
        CHECK(text.find(record.strings[3]) != std::wstring::npos);
        CHECK(text.find(L"%") == std::wstring::npos);  // every insertion was filled
        // certheal's own sentence comes first, then the event's.
        CHECK(text.find(record.strings[0]) > 20);
    }
}

TEST_CASE("the site and incident appear in the text of the events that are about one", "[eventlog]") {
    const DataModule exe(certheal_exe_path());
    REQUIRE(exe.get() != nullptr);
    const std::vector<std::wstring> strings{L"Sentence.", L"site-A", L"incident-7", L"{}"};
    for (const EventId id : {EventId::symptom_confirmed, EventId::repair_started, EventId::repair_failed,
                             EventId::step_failed, EventId::repair_skipped}) {
        INFO("event " << definition_of(id).name);
        const std::wstring text = render(exe.get(), *event_log_message_id(id), strings);
        CHECK(text.find(L"site-A") != std::wstring::npos);
        CHECK(text.find(L"incident-7") != std::wstring::npos);
    }
    // The bare event ID (no severity bits) is not what the table holds: ReportEventW must get the full one.
    CHECK(render(exe.get(), static_cast<DWORD>(EventId::symptom_confirmed), strings).empty());
}

TEST_CASE("certheal.exe carries the project version in its VERSIONINFO", "[eventlog][version]") {
    const std::wstring path = certheal_exe_path();
    DWORD ignored = 0;
    const DWORD size = ::GetFileVersionInfoSizeW(path.c_str(), &ignored);
    REQUIRE(size > 0);
    std::vector<unsigned char> block(size);
    REQUIRE(::GetFileVersionInfoW(path.c_str(), 0, size, block.data()));

    VS_FIXEDFILEINFO* fixed = nullptr;
    UINT fixed_size = 0;
    REQUIRE(::VerQueryValueW(block.data(), L"\\", reinterpret_cast<void**>(&fixed), &fixed_size));
    const std::string version = std::to_string(HIWORD(fixed->dwFileVersionMS)) + "." +
                                std::to_string(LOWORD(fixed->dwFileVersionMS)) + "." +
                                std::to_string(HIWORD(fixed->dwFileVersionLS));
    CHECK(version == CERTHEAL_VERSION);

    wchar_t* text = nullptr;
    UINT text_size = 0;
    REQUIRE(::VerQueryValueW(block.data(), L"\\StringFileInfo\\040904B0\\ProductVersion",
                             reinterpret_cast<void**>(&text), &text_size));
    CHECK(to_utf8(text) == CERTHEAL_VERSION);
}

TEST_CASE("the sink reports every event through Wine's stub event source without failing", "[eventlog]") {
    // On Windows this writes real events (source "certheal") to the Application log.
    EventLogSink sink;
    // Wine's RegisterEventSourceW hands out a fake handle; Windows a real one (or null without rights).
    for (const auto& def : event_table()) {
        CHECK_NOTHROW(sink.emit(sample_event(def.id)));
    }
    Event huge = sample_event(EventId::step_failed);
    huge.message = std::string(100000, 'm');
    CHECK_NOTHROW(sink.emit(huge));
}

// Run by tests/win/event_log_trace.sh with WINEDEBUG=+eventlog: Wine's ReportEventW stub traces
// its arguments, so the script checks what really reached the API. Hidden from the default run.
TEST_CASE("the sink hands ReportEventW the full message ID, the type and four strings", "[.eventlog-trace]") {
    EventLogSink sink;
    for (const auto& def : event_table()) {
        Event event = sample_event(def.id);
        event.message = "trace-probe " + std::to_string(static_cast<int>(def.id));
        sink.emit(event);
        const auto record = make_event_log_record(event);
        char expected[64];
        std::snprintf(expected, sizeof expected, "expect 0x%04x,0x0000,0x%08lx,", static_cast<unsigned>(record.type),
                      static_cast<unsigned long>(record.message_id));
        std::printf("%s %s\n", expected, event.message.c_str());
    }
    std::fflush(stdout);
}
