#include "core/base/text.hpp"

#include <cerrno>

namespace certheal {

std::string concat(std::initializer_list<std::string_view> parts) {
    std::size_t size = 0;
    for (const auto part : parts) size += part.size();
    std::string text;
    text.reserve(size);
    for (const auto part : parts) text += part;
    return text;
}

std::string quoted(const std::filesystem::path& file) { return "\"" + file.string() + "\""; }

std::string list_text(const std::vector<std::string>& items) {
    std::string text;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) text += i + 1 == items.size() ? " and " : ", ";
        text += items[i];
    }
    return text;
}

std::string as_sentence(std::string text) {
    if (text.empty()) return "The call failed without saying why.";
    if (text.back() != '.' && text.back() != '!' && text.back() != '?') text += '.';
    return text;
}

std::string as_clause(std::string text) {
    while (!text.empty() && (text.back() == '.' || text.back() == ' ')) text.pop_back();
    return text;
}

std::string with_cause(std::string_view what_failed, std::string cause) {
    if (cause.size() >= what_failed.size() && std::string_view(cause).substr(0, what_failed.size()) == what_failed) {
        return as_sentence(std::move(cause));
    }
    return std::string(what_failed) + ": " + as_sentence(std::move(cause));
}

std::error_code last_os_error_or(std::errc fallback) {
    const int saved = errno;
    return saved != 0 ? std::error_code(saved, std::generic_category()) : std::make_error_code(fallback);
}

}  // namespace certheal
