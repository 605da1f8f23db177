#pragma once
// Reading certheal.json's values with their JSON pointers. The JsonReader checks each value's
// type and bounds, refuses unknown keys, reads durations and paths, and collects every issue
// with the pointer and the value that was wrong, so one run of `check-config` shows them all.
// The section readers (sections.hpp) say what each key means; this file says only how a JSON
// value is read.

#include <cstddef>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "core/base/duration.hpp"

namespace certheal {

// More issues than this are not read by anyone; the rest are counted.
inline constexpr std::size_t kMaxIssues = 200;

// The keys an object may hold, in the order an "is not a known key" error lists them.
using KeyList = std::vector<std::string_view>;

// ---- JSON pointers and the values shown in messages

std::string child_pointer(const std::string& pointer, std::string_view key);  // "/sites" + "tls" -> "/sites/tls"
std::string child_pointer(const std::string& pointer, std::size_t index);     // "/sites" + 2 -> "/sites/2"

// The offending value as JSON, shortened so one bad value cannot flood the output.
std::string shown_value(const nlohmann::json& value);
std::string shown_string(std::string_view text);          // as a JSON string, shortened like shown_value()
std::string json_type_text(const nlohmann::json& value);  // "an integer", "a string", ...
std::string typed_value(const nlohmann::json& value);     // "a string \"30\"", "an integer 30"

// ---- what a string of the config may hold

// Names, URLs, paths and services end up in log lines, metric labels and command lines.
bool has_control_character(std::string_view text);
// A Windows absolute path ("C:\\x", "C:/x", "\\\\server\\share", "\\\\?\\C:\\x") counts as
// absolute on every platform, so a Windows config can be checked on a Linux desk.
bool is_windows_absolute_path(std::string_view path);
// Absolute here, on Windows, or on POSIX (so the Linux examples check on Windows too).
bool is_absolute_on_any_platform(const std::string& path);

// ---- the reader

class JsonReader {
public:
    // Relative paths resolve against `base_dir`, the config file's folder.
    explicit JsonReader(std::filesystem::path base_dir) : base_dir_(std::move(base_dir)) {}

    void error(const std::string& pointer, std::string message);
    void warning(const std::string& pointer, std::string message);
    std::size_t error_count() const;
    // Every issue in the order found, at most kMaxIssues and a last one that counts the rest.
    std::vector<ConfigIssue> take_issues();

    // True when `value` is an object; every key outside `allowed` and `also_allowed` is reported.
    bool check_object(const nlohmann::json& value, const std::string& pointer, const KeyList& allowed,
                      const KeyList& also_allowed = {});
    // A non-empty string without control characters (only a rejection pattern, which is never
    // printed raw, may hold one).
    std::optional<std::string> read_string(const nlohmann::json& value, const std::string& pointer,
                                           bool allow_control_characters = false);
    std::optional<bool> read_boolean(const nlohmann::json& value, const std::string& pointer);
    std::optional<int> read_integer(const nlohmann::json& value, const std::string& pointer, int minimum,
                                    int maximum = std::numeric_limits<int>::max());
    // "30s", "1m30s": longer than zero, at most kLongestDuration.
    std::optional<Duration> read_duration(const nlohmann::json& value, const std::string& pointer);
    // A file path, resolved against the config file's folder.
    std::optional<std::filesystem::path> read_file_path(const nlohmann::json& value, const std::string& pointer);

private:
    std::filesystem::path resolve(const std::string& text) const;

    std::filesystem::path base_dir_;
    std::vector<ConfigIssue> issues_;
};

// The document, parsed within kMaxJsonDepth. Not JSON: nullopt, and the reader holds the one
// issue that says where (line and column). A key repeated in one object is an error at its
// pointer (nlohmann would silently keep the last one).
std::optional<nlohmann::json> read_json_document(std::string_view text, JsonReader& reader);

}  // namespace certheal
