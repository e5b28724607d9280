#include "config/text_position.hpp"

#include <algorithm>

namespace pershome::config {

TextPosition position_of(std::string_view text, std::size_t offset) {
    offset = std::min(offset, text.size());
    TextPosition pos;
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < offset; ++i) {
        if (text[i] == '\n') {
            ++pos.line;
            line_start = i + 1;
        }
    }
    pos.column = static_cast<int>(offset - line_start) + 1;
    return pos;
}

int LineCounter::line_at(std::size_t offset) {
    offset = std::min(offset, text_.size());
    for (; offset_ < offset; ++offset_) {
        if (text_[offset_] == '\n') ++line_;
    }
    for (; offset_ > offset; --offset_) {
        if (text_[offset_ - 1] == '\n') --line_;
    }
    return line_;
}

}  // namespace pershome::config
