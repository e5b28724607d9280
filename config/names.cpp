#include "config/names.hpp"

#include <cstdio>

namespace pershome::config {

std::optional<std::string> name_problem(std::string_view name) {
    if (name.empty()) return "empty name";
    if (name.size() > kMaxNameBytes) {
        return "name longer than " + std::to_string(kMaxNameBytes) + " bytes";
    }
    if (name == "." || name == "..") return "\"" + std::string(name) + "\" is not a name";
    if (name.front() == '-') return "a name must not start with \"-\"";
    for (std::size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || (c == '@' && i > 0) ||
                  (c == '$' && i + 1 == name.size());
        if (!ok) {
            auto u = static_cast<unsigned char>(c);
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02x", u);
            std::string shown = (u >= 0x21 && u < 0x7f) ? "character \"" + std::string(1, c) + "\""
                                                        : "byte " + std::string(hex);
            return shown + " is not allowed in a name";
        }
    }
    return std::nullopt;
}

}  // namespace pershome::config
