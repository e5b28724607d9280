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

// Line numbers for a stream of offsets that mostly move forward, as a
// parser's do: each query costs the distance from the previous one, so a
// whole document costs O(size), not O(size * queries).
class LineCounter {
  public:
    explicit LineCounter(std::string_view text) : text_(text) {}
    int line_at(std::size_t offset);

  private:
    std::string_view text_;
    std::size_t offset_ = 0;  // line_ is the line of the byte at offset_
    int line_ = 1;
};

}  // namespace pershome::config
