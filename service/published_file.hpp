#pragma once
// One of the files certheal writes for others to read (status.json, the metrics textfile):
// a failure to write it is said once, and its recovery once, never on every write.

#include <filesystem>
#include <string>
#include <utility>

#include "core/base/clock.hpp"
#include "core/model/events.hpp"
#include "core/model/ports.hpp"

namespace certheal {

class PublishedFile {
public:
    PublishedFile(std::string what, OwnFiles& files, EventSink& events)
        : what_(std::move(what)), files_(files), events_(events) {}

    // `quiet`: the last write at exit, after service_stopped, which must stay the last event.
    void write(const std::filesystem::path& file, const std::string& contents, TimePoint now, bool quiet = false) {
        const auto written = files_.write_atomically(file, contents, kReadableByAll);
        if (quiet) return;
        if (!written && !failing_) {
            failing_ = true;
            Event event;
            event.id = EventId::storage_failed;
            event.time = now;
            event.message = "certheal could not write its " + what_ +
                            " (see path and error). Monitoring and repairs go on; free space on the disk or fix the "
                            "folder's permissions.";
            event.details = {{"what", what_}, {"path", file.string()}, {"error", written.error().message}};
            events_.emit(event);
        } else if (written && failing_) {
            failing_ = false;
            Event event;
            event.id = EventId::storage_recovered;
            event.time = now;
            event.message = "certheal writes its " + what_ + " again.";
            event.details = {{"what", what_}, {"path", file.string()}};
            events_.emit(event);
        }
    }

private:
    // status.json and certheal.prom are for others to read; they hold no secret.
    static constexpr auto kReadableByAll = std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                           std::filesystem::perms::group_read | std::filesystem::perms::others_read;

    std::string what_;
    OwnFiles& files_;
    EventSink& events_;
    bool failing_ = false;
};

}  // namespace certheal
