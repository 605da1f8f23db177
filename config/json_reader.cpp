// Validation keeps going after the first problem so an admin sees every error of a config in
// one run of `certheal check-config`; each issue names its JSON pointer and the wrong value.
#include "config/json_reader.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>
#include <set>

#include "core/base/bounded_input.hpp"
#include "core/base/text.hpp"

namespace certheal {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::string pointer_token(std::string_view key) {
    std::string token;
    for (char c : key) {
        if (c == '~')
            token += "~0";
        else if (c == '/')
            token += "~1";
        else
            token += c;
    }
    return token;
}

// nlohmann reports a byte offset; people need a line and a column.
std::string describe_parse_error(std::string_view text, const JsonParse& parsed) {
    if (parsed.error_offset == 0) return "is not valid JSON: " + parsed.error;
    const std::size_t offset = std::min<std::size_t>(parsed.error_offset - 1, text.size());
    std::size_t line = 1;
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < offset; ++i) {
        if (text[i] == '\n') {
            ++line;
            line_start = i + 1;
        }
    }
    const std::size_t column = offset - line_start + 1;
    std::string reason = parsed.error;
    // "parse error at line 1, column 2: syntax error while ...": the position is said already.
    if (const auto colon = reason.find(": ", reason.find("parse error")); colon != std::string::npos) {
        reason = reason.substr(colon + 2);
    }
    return "is not valid JSON: line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + reason;
}

// nlohmann keeps the last of two equal keys silently; a repeated "url" is a mistake worth
// reporting. Tracks where the parser is so the issue carries a JSON pointer.
class DuplicateKeyFinder {
public:
    std::vector<std::string> duplicates;  // pointers

    void operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
        switch (event) {
            case json::parse_event_t::object_start: frames_.push_back(Frame{false, 0, {}, {}}); break;
            case json::parse_event_t::array_start: frames_.push_back(Frame{true, 0, {}, {}}); break;
            case json::parse_event_t::key: {
                Frame& frame = frames_.back();
                frame.key = parsed.get<std::string>();
                // A few are enough to show the mistake; a file of thousands is an attack. One
                // more than listed makes the list say that more were left out.
                if (!frame.keys.insert(frame.key).second && duplicates.size() <= kMaxIssues) {
                    duplicates.push_back(pointer());
                }
                break;
            }
            case json::parse_event_t::object_end:
            case json::parse_event_t::array_end:
                frames_.pop_back();
                advance();
                break;
            case json::parse_event_t::value: advance(); break;
        }
    }

private:
    struct Frame {
        bool is_array = false;
        std::size_t index = 0;
        std::string key;
        std::set<std::string> keys;
    };
    void advance() {
        if (!frames_.empty() && frames_.back().is_array) ++frames_.back().index;
    }
    std::string pointer() const {
        std::string text;
        for (const Frame& frame : frames_) {
            text += frame.is_array ? "/" + std::to_string(frame.index) : "/" + pointer_token(frame.key);
        }
        return text;
    }
    std::vector<Frame> frames_;
};

}  // namespace

// ---------------------------------------------------------------- pointers and values

std::string child_pointer(const std::string& pointer, std::string_view key) {
    return pointer + "/" + pointer_token(key);
}
std::string child_pointer(const std::string& pointer, std::size_t index) {
    return pointer + "/" + std::to_string(index);
}

std::string shown_value(const json& value) {
    std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
    constexpr std::size_t kMax = 120;
    if (text.size() > kMax) text = text.substr(0, kMax) + "...";
    return text;
}

std::string shown_string(std::string_view text) { return shown_value(json(std::string(text))); }

std::string json_type_text(const json& value) {
    switch (value.type()) {
        case json::value_t::null: return "null";
        case json::value_t::boolean: return "a boolean";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned: return "an integer";
        case json::value_t::number_float: return "a number";
        case json::value_t::string: return "a string";
        case json::value_t::array: return "an array";
        case json::value_t::object: return "an object";
        default: return "an unsupported value";
    }
}

std::string typed_value(const json& value) { return json_type_text(value) + " " + shown_value(value); }

bool has_control_character(std::string_view text) {
    return std::any_of(text.begin(), text.end(), [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return byte < 0x20 || byte == 0x7f;
    });
}

bool is_windows_absolute_path(std::string_view path) {
    const auto is_sep = [](char c) {
        return c == '\\' || c == '/';
    };
    if (path.size() >= 3 && std::isalpha(static_cast<unsigned char>(path[0])) && path[1] == ':' && is_sep(path[2])) {
        return true;
    }
    return path.size() >= 3 && path[0] == '\\' && path[1] == '\\' && path[2] != '\\';
}

bool is_absolute_on_any_platform(const std::string& path) {
    return fs::path(path).is_absolute() || is_windows_absolute_path(path) || (!path.empty() && path.front() == '/');
}

// ---------------------------------------------------------------- the reader

void JsonReader::error(const std::string& pointer, std::string message) {
    issues_.push_back({ConfigIssue::Level::error, pointer, std::move(message)});
}

void JsonReader::warning(const std::string& pointer, std::string message) {
    issues_.push_back({ConfigIssue::Level::warning, pointer, std::move(message)});
}

std::size_t JsonReader::error_count() const {
    return static_cast<std::size_t>(std::count_if(issues_.begin(), issues_.end(), [](const ConfigIssue& issue) {
        return issue.level == ConfigIssue::Level::error;
    }));
}

std::vector<ConfigIssue> JsonReader::take_issues() {
    std::vector<ConfigIssue> issues = std::move(issues_);
    issues_.clear();
    if (issues.size() > kMaxIssues) {
        const std::size_t left_out = issues.size() - kMaxIssues;
        issues.resize(kMaxIssues);
        issues.push_back(
            {ConfigIssue::Level::error, "",
             "has " + std::to_string(left_out) + " or more issue(s) not listed; fix the ones above first"});
    }
    return issues;
}

bool JsonReader::check_object(const json& value, const std::string& pointer, const KeyList& allowed,
                              const KeyList& also_allowed) {
    if (!value.is_object()) {
        error(pointer, "must be an object, got " + typed_value(value));
        return false;
    }
    for (const auto& [key, ignored] : value.items()) {
        const auto known = [&key = key](const KeyList& list) {
            return std::find(list.begin(), list.end(), key) != list.end();
        };
        if (!known(allowed) && !known(also_allowed)) {
            std::string expected = join(allowed);
            if (!also_allowed.empty()) expected += ", " + join(also_allowed);
            error(child_pointer(pointer, key), "is not a known key here (expected one of: " + expected + ")");
        }
    }
    return true;
}

// A line break or other control character in a name, URL, path or service forges or breaks
// the log line, metric label or command line it ends up in, so it is refused.
std::optional<std::string> JsonReader::read_string(const json& value, const std::string& pointer,
                                                   bool allow_control_characters) {
    if (!value.is_string()) {
        error(pointer, "must be a string, got " + typed_value(value));
        return std::nullopt;
    }
    auto text = value.get<std::string>();
    if (text.empty()) {
        error(pointer, "must not be empty");
        return std::nullopt;
    }
    if (!allow_control_characters && has_control_character(text)) {
        error(pointer, "must not contain control characters (line breaks, tabs, escapes), got " + shown_value(value));
        return std::nullopt;
    }
    return text;
}

std::optional<bool> JsonReader::read_boolean(const json& value, const std::string& pointer) {
    if (!value.is_boolean()) {
        error(pointer, "must be true or false, got " + shown_value(value));
        return std::nullopt;
    }
    return value.get<bool>();
}

std::optional<int> JsonReader::read_integer(const json& value, const std::string& pointer, int minimum, int maximum) {
    if (!value.is_number_integer()) {
        error(pointer, "must be a whole number, got " + typed_value(value));
        return std::nullopt;
    }
    // nlohmann stores every non-negative integer as unsigned, which may exceed int64.
    const bool huge = value.is_number_unsigned() &&
                      value.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<int>::max());
    const std::int64_t number = huge ? std::int64_t{std::numeric_limits<int>::max()} + 1 : value.get<std::int64_t>();
    if (number < minimum || number > maximum) {
        if (maximum == std::numeric_limits<int>::max()) {
            error(pointer, "must be at least " + std::to_string(minimum) + ", got " + shown_value(value));
        } else {
            error(pointer, "must be between " + std::to_string(minimum) + " and " + std::to_string(maximum) + ", got " +
                               shown_value(value));
        }
        return std::nullopt;
    }
    return value.get<int>();
}

std::optional<Duration> JsonReader::read_duration(const json& value, const std::string& pointer) {
    if (!value.is_string()) {
        error(pointer, "must be a duration string with a unit (ms, s, m, h) such as \"30s\" or \"1m30s\", got " +
                           typed_value(value));
        return std::nullopt;
    }
    const auto parsed = parse_duration(value.get<std::string>());
    if (!parsed) {
        error(pointer, "must be a duration with a unit (ms, s, m, h) such as \"30s\" or \"1m30s\", of at most " +
                           format_duration(kLongestDuration) + " (a hundred years), got " + shown_value(value));
        return std::nullopt;
    }
    if (parsed->count() <= 0) {
        error(pointer, "must be longer than zero, got " + shown_value(value));
        return std::nullopt;
    }
    return parsed;
}

std::optional<fs::path> JsonReader::read_file_path(const json& value, const std::string& pointer) {
    auto text = read_string(value, pointer);
    if (!text) return std::nullopt;
    return resolve(*text);
}

fs::path JsonReader::resolve(const std::string& text) const {
    if (is_absolute_on_any_platform(text)) return fs::path(text);
    return (base_dir_ / fs::path(text)).lexically_normal();
}

std::optional<json> read_json_document(std::string_view text, JsonReader& reader) {
    DuplicateKeyFinder duplicates;
    auto parsed = parse_json_bounded(text, kMaxJsonDepth, std::ref(duplicates));
    if (!parsed.value) {
        reader.error("", describe_parse_error(text, parsed));
        return std::nullopt;
    }
    for (const auto& pointer : duplicates.duplicates) {
        reader.error(pointer, "appears twice in the same object; remove one of them");
    }
    return std::move(parsed.value);
}

}  // namespace certheal
