#pragma once
// Words laid out for an 80-column terminal: the help texts and `certheal status` share it.

#include <string>
#include <string_view>
#include <vector>

namespace certheal::cli {

// Words laid out in lines of at most `width` columns, the first starting at `first_column`;
// continuation lines start with `indent` spaces. A word longer than a line gets a line of its own.
std::string wrap_words(const std::vector<std::string>& words, std::size_t first_column, std::size_t indent,
                       std::size_t width);

// The words of a text, split at white space.
std::vector<std::string> words_of(std::string_view text);

}  // namespace certheal::cli
