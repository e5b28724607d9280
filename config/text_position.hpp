// Byte offsets to the line:column an admin sees in an editor.
#pragma once

#include <cstddef>
#include <string_view>

namespace pershome::config {

struct TextPosition {
    int line = 1;    // 1-based
    int column = 1;  // 1-based, in bytes
};

// Position of the byte at `offset` (clamped to the end of `text`).
TextPosition position_of(std::string_view text, std::size_t offset);

}  // namespace pershome::config
