#include "core/base/bounded_input.hpp"
#include "core/base/text.hpp"

#include <fstream>
#include <system_error>

#include <openssl/crypto.h>

namespace certheal {
namespace {

Failure failure(std::errc code, std::string message) { return Failure{std::make_error_code(code), std::move(message)}; }

// Thrown by the parse hook to stop at the first level too deep; never leaves this file.
struct TooDeep {};

// nlohmann's text without its "[json.exception.parse_error.101] " tag.
std::string without_tag(const char* what) {
    std::string text(what);
    if (!text.empty() && text.front() == '[') {
        if (const auto end = text.find("] "); end != std::string::npos) text.erase(0, end + 2);
    }
    return text;
}

}  // namespace

Result<std::string> read_file_bounded(const std::filesystem::path& file, std::string_view what, std::size_t limit) {
    std::error_code ec;
    const auto status = std::filesystem::status(file, ec);  // follows links, as opening does
    if (status.type() == std::filesystem::file_type::not_found) {
        return failure(std::errc::no_such_file_or_directory, std::string(what) + " " + quoted(file) + " does not exist");
    }
    if (status.type() == std::filesystem::file_type::directory) {
        return failure(std::errc::is_a_directory, std::string(what) + " " + quoted(file) + " is a folder, not a file");
    }
    if (ec || status.type() != std::filesystem::file_type::regular) {
        return failure(std::errc::invalid_argument,
                       std::string(what) + " " + quoted(file) +
                           " is not a regular file (a device, a pipe or a socket); name the file itself");
    }
    const auto size = std::filesystem::file_size(file, ec);
    const auto too_large = [&] {
        return failure(std::errc::file_too_large, std::string(what) + " " + quoted(file) + " is larger than " +
                                                      std::to_string(limit / 1024) +
                                                      " KiB, more than such a file ever holds; check that it is the "
                                                      "right file");
    };
    if (!ec && size > limit) return too_large();
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        return failure(std::errc::permission_denied,
                       std::string(what) + " " + quoted(file) + " cannot be read (check its permissions)");
    }
    std::string content;
    char chunk[64 * 1024];
    // Bounded while reading too: the file may grow between the size check and the read.
    while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
        content.append(chunk, static_cast<std::size_t>(in.gcount()));
        if (content.size() > limit) {
            OPENSSL_cleanse(content.data(), content.size());  // it may hold a key or a password
            return too_large();
        }
    }
    if (in.bad()) {
        return failure(std::errc::io_error, std::string(what) + " " + quoted(file) + " could not be read completely");
    }
    return content;
}

JsonParse parse_json_bounded(std::string_view text, std::size_t max_depth, const JsonEventHook& on_event) {
    JsonParse result;
    const auto hook = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        if (depth >= 0 && static_cast<std::size_t>(depth) > max_depth) throw TooDeep{};
        if (on_event) on_event(depth, event, parsed);
        return true;
    };
    try {
        result.value = nlohmann::json::parse(text.begin(), text.end(), hook);
    } catch (const TooDeep&) {
        result.error = "it nests deeper than " + std::to_string(max_depth) + " levels";
    } catch (const nlohmann::json::parse_error& error) {
        result.error = without_tag(error.what());
        result.error_offset = error.byte;
    } catch (const nlohmann::json::exception& error) {
        // Numbers beyond a double ("1E400") and the like.
        result.error = without_tag(error.what());
    }
    return result;
}

}  // namespace certheal
