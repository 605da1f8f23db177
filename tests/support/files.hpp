#pragma once
// Whole files in tests: what nearly every test file reads or writes, in one place. Header-only so
// the unit, lab and Wine test programs share it without a library of their own.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace certheal::test {

// The file's bytes; empty when it does not exist or cannot be read (tests check the contents).
inline std::string read_text(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Replaces the file's contents with `text`; throws when it cannot, so a test never goes on with
// a file it did not write.
inline void write_text(const std::filesystem::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + file.string());
}

}  // namespace certheal::test
