// Escapes a user name for one D-Bus object path component (and for a file
// name in the state dir) the way sd_bus_path_encode does: [A-Za-z0-9] stay,
// every other byte becomes _XX (lowercase hex); the empty string becomes "_".
#pragma once

#include <string>
#include <string_view>

namespace pershome {

inline std::string path_escape(std::string_view s) {
    if (s.empty()) return "_";
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (alnum) {
            out += static_cast<char>(c);
        } else {
            out += '_';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

}  // namespace pershome
