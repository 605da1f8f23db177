#include "service/text_layout.hpp"

#include <sstream>

namespace certheal::cli {

std::string wrap_words(const std::vector<std::string>& words, std::size_t first_column, std::size_t indent,
                       std::size_t width) {
    std::string text;
    std::size_t column = first_column;
    bool line_empty = true;
    for (const auto& word : words) {
        if (!line_empty && column + 1 + word.size() > width) {
            text += "\n" + std::string(indent, ' ');
            column = indent;
            line_empty = true;
        }
        if (!line_empty) {
            text += ' ';
            ++column;
        }
        text += word;
        column += word.size();
        line_empty = false;
    }
    return text;
}

std::vector<std::string> words_of(std::string_view text) {
    std::vector<std::string> words;
    std::istringstream in{std::string(text)};
    for (std::string word; in >> word;) words.push_back(word);
    return words;
}

}  // namespace certheal::cli
