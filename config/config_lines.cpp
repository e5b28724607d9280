#include "config/config_lines.hpp"

#include <cstdio>
#include <optional>

namespace pershome::config {

namespace {

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

std::string hex_byte(unsigned char c) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", c);
    return buf;
}

// Words of one line, or the reason the line cannot be read.
struct Tokenized {
    std::vector<std::string> words;
    std::optional<std::string> error;
};

Tokenized tokenize(std::string_view line) {
    Tokenized out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && is_blank(line[i])) ++i;
        if (i == line.size() || line[i] == '#') break;
        std::string word;
        while (i < line.size() && !is_blank(line[i])) {
            if (line[i] != '"') {
                word += line[i++];
                continue;
            }
            const std::size_t open = i++;
            bool closed = false;
            while (i < line.size()) {
                char c = line[i++];
                if (c == '"') {
                    closed = true;
                    break;
                }
                if (c == '\\' && i < line.size() && (line[i] == '"' || line[i] == '\\'))
                    c = line[i++];
                word += c;
            }
            if (!closed) {
                out.error = "unterminated quote starting in column " + std::to_string(open + 1);
                return out;
            }
        }
        out.words.push_back(std::move(word));
    }
    return out;
}

}  // namespace

std::vector<ConfigLine> split_config_lines(std::string_view text, const std::string& filename,
                                           Diagnostics& diagnostics, const LineLimits& limits) {
    std::vector<ConfigLine> lines;
    auto report = [&](int line, std::string message) {
        diagnostics.push_back(Diagnostic{filename, line, Severity::Error, std::move(message)});
    };

    // Editors on Windows like to start UTF-8 files with a byte order mark.
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);

    std::size_t pos = 0;
    int number = 0;
    while (pos < text.size()) {
        ++number;
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        // The cap is on whole lines: a line cut by it is never half-read
        // (half of "josephine" is "joseph").
        if (end > limits.max_file_bytes) {
            report(number, "file is larger than " + std::to_string(limits.max_file_bytes) +
                               " bytes; this line and all after it are ignored");
            break;
        }
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;

        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() > limits.max_line_bytes) {
            report(number, "line is longer than " + std::to_string(limits.max_line_bytes) +
                               " bytes; ignored");
            continue;
        }
        std::optional<std::string> bad;
        for (std::size_t i = 0; i < line.size(); ++i) {
            auto c = static_cast<unsigned char>(line[i]);
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                bad = "control byte " + hex_byte(c) + " in column " + std::to_string(i + 1) +
                      "; line ignored";
                break;
            }
        }
        if (bad) {
            report(number, *bad);
            continue;
        }
        Tokenized t = tokenize(line);
        if (t.error) {
            report(number, *t.error + "; line ignored");
            continue;
        }
        if (!t.words.empty()) lines.push_back(ConfigLine{number, std::move(t.words)});
    }
    return lines;
}

}  // namespace pershome::config
