// Quoting words from a config file into a message. Long words are cut: a
// 4 KiB garbage line must not become a 4 KiB log line, and the start is
// enough to find it.
#pragma once

#include <string>
#include <string_view>

namespace pershome::config {

inline constexpr std::size_t kMaxQuotedBytes = 64;

// "\"word\"", or "\"first 64 bytes...\"" for longer words.
inline std::string quote_word(std::string_view word) {
    if (word.size() <= kMaxQuotedBytes) return "\"" + std::string(word) + "\"";
    return "\"" + std::string(word.substr(0, kMaxQuotedBytes)) + "...\"";
}

}  // namespace pershome::config
