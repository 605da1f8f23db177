#pragma once
// Reading what others wrote (the config, the journal, the saved state) without trusting it:
// a file is read only when it is a regular file of bounded size, and JSON is refused when it
// nests deeper than a small limit, before anything walks it (nlohmann's dump() recurses once
// per level: 100000 nested "[" overflowed the stack), and every nlohmann exception becomes a
// sentence instead of escaping.

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/base/result.hpp"

namespace certheal {

// Deeper than any document certheal reads or writes (its config nests 6 levels).
inline constexpr std::size_t kMaxJsonDepth = 32;

// A whole regular file, refused when it is not a regular file (a FIFO, a device or a folder
// would block or never end), when it exceeds `limit`, or when it cannot be read. Failure
// messages name the file as `what` "<path>" and say what is wrong.
Result<std::string> read_file_bounded(const std::filesystem::path& file, std::string_view what, std::size_t limit);

struct JsonParse {
    std::optional<nlohmann::json> value;  // set when the text is JSON within the bounds
    std::string error;                    // otherwise why not, a clause: "nested deeper than 32 levels"
    std::size_t error_offset = 0;         // byte offset of the error, when the parser knows it
};

// Parses `text`; `on_event` (optional) sees every parse event like nlohmann's callback, after
// the depth check.
using JsonEventHook = std::function<void(int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed)>;
JsonParse parse_json_bounded(std::string_view text, std::size_t max_depth = kMaxJsonDepth,
                             const JsonEventHook& on_event = nullptr);

}  // namespace certheal
