// JSON parsing that remembers where things were: nlohmann's DOM forgets
// positions, but an admin needs "line 7" for a bad value, not just a key name.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace pershome::config {

struct LocatedJson {
    nlohmann::ordered_json value;  // member order as written
    // JSON pointer (RFC 6901, e.g. "/tmphome_roots/1") -> 1-based line of
    // the member's key, or of the array element.
    std::map<std::string, int> lines;

    int line_of(const std::string& pointer) const {
        auto it = lines.find(pointer);
        return it == lines.end() ? 0 : it->second;
    }
};

// Strict JSON plus // and /* */ comments. Empty (or comment-only) text gives
// an empty object. Throws ConfigError on syntax errors (with line:column),
// duplicate keys and absurd nesting.
LocatedJson parse_located_json(std::string_view text, const std::string& filename);

// RFC 6901 escaping of one reference token ("~" -> "~0", "/" -> "~1").
std::string json_pointer_token(std::string_view key);

}  // namespace pershome::config
