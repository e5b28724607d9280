// The line syntax shared by persistent_homes(5) and ~/.persistent_home:
// whitespace-separated words, "#" comments, double quotes for words with
// blanks in them (FAT labels like "USB DISK"), CRLF tolerated.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostic.hpp"

namespace pershome::config {

struct ConfigLine {
    int number = 0;                  // 1-based
    std::vector<std::string> words;  // never empty; quotes removed
};

struct LineLimits {
    std::size_t max_line_bytes = 4096;
    std::size_t max_file_bytes = 1024 * 1024;
};

// Splits `text` into lines that hold words. Lines that cannot be read
// (control bytes, unterminated quote, too long, past the file cap) are left
// out, each with a Diagnostic.
std::vector<ConfigLine> split_config_lines(std::string_view text, const std::string& filename,
                                           Diagnostics& diagnostics, const LineLimits& limits = {});

}  // namespace pershome::config
