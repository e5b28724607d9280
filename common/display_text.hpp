// Text that came from a stick or a user (labels, file names) on its way into
// a D-Bus string, a log line or a message: D-Bus refuses invalid UTF-8, and a
// control byte in a log line can forge a line of its own. Valid UTF-8 stays
// as it is; a control byte, a backslash and every byte of an invalid sequence
// become \xNN (a backslash \\), so nothing is dropped and the bytes can be
// read back.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pershome {

namespace detail {

// Length of the valid UTF-8 sequence at the start of S (shortest form, no
// surrogates, at most U+10FFFF), or 0.
inline std::size_t utf8_sequence_length(std::string_view s) {
    const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char c = b(0);
    std::size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (s.size() < n) return 0;
    if (b(1) < lo || b(1) > hi) return 0;
    for (std::size_t i = 2; i < n; ++i)
        if (b(i) < 0x80 || b(i) > 0xBF) return 0;
    return n;
}

// Escapes into OUT; a backslash is doubled only with ESCAPE_BACKSLASH.
inline void append_escaped(std::string& out, std::string_view s, bool escape_backslash) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.reserve(out.size() + s.size());
    while (!s.empty()) {
        const unsigned char c = static_cast<unsigned char>(s[0]);
        std::size_t n = detail::utf8_sequence_length(s);
        if (n == 1 && c >= 0x20 && c != 0x7f && (c != '\\' || !escape_backslash)) {
            out += static_cast<char>(c);
        } else if (n > 1) {
            out.append(s.substr(0, n));
        } else if (c == '\\') {
            out += "\\\\";
            n = 1;
        } else {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
            n = 1;
        }
        s.remove_prefix(n);
    }
}

}  // namespace detail

// At most MAX_BYTES of input are shown; a longer text ends in "...".
inline std::string display_text(std::string_view s, std::size_t max_bytes = 256) {
    std::string out;
    const bool cut = s.size() > max_bytes;
    if (cut) s = s.substr(0, max_bytes);
    detail::append_escaped(out, s, true);
    if (cut) out += "...";
    return out;
}

// For a whole log line, which may hold parts display_text already escaped:
// control bytes and invalid UTF-8 only, so no line can be forged and no
// escape is doubled.
inline std::string log_text(std::string_view s) {
    std::string out;
    detail::append_escaped(out, s, false);
    return out;
}

}  // namespace pershome
