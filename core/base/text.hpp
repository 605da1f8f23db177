#pragma once
// Small helpers for the sentences certheal writes. One home for each, so every message joins,
// quotes and ends its sentences the same way.

#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace certheal {

// "a, b, c" (with `separator` between items).
template <class Range, class Show>
std::string join(const Range& items, std::string_view separator, Show show) {
    std::string text;
    for (const auto& item : items) {
        if (!text.empty()) text += separator;
        text += show(item);
    }
    return text;
}
template <class Range>
std::string join(const Range& items, std::string_view separator = ", ") {
    return join(items, separator, [](const auto& item) { return std::string(item); });
}

// The parts one after another, in one allocation: for messages built from several pieces.
std::string concat(std::initializer_list<std::string_view> parts);

// "C:\certheal\ca.pem" with its quotes: a file named inside a sentence.
std::string quoted(const std::filesystem::path& file);

// "a", "a and b", "a, b and c": a list inside a sentence.
std::string list_text(const std::vector<std::string>& items);

// The text ending like a sentence (a full stop added unless it ends in . ! or ?); a port
// that failed without saying why gets a sentence that says so.
std::string as_sentence(std::string text);

// The text without its final full stops and spaces, to be continued inside a longer sentence.
std::string as_clause(std::string text);

// "what failed: why." An adapter's message often already starts with what failed (the
// platform says "certheal could not start X: ..."); then it is the whole sentence, and
// `what_failed` is not said twice.
std::string with_cause(std::string_view what_failed, std::string cause);

// errno as an error_code, or `fallback` when errno says nothing (some library calls fail
// without setting it).
std::error_code last_os_error_or(std::errc fallback);

}  // namespace certheal
