#include "config/config_error.hpp"

#include <utility>

namespace pershome::config {

namespace {

std::string located(const std::string& file, int line, int column, const std::string& message) {
    std::string out = file;
    if (line > 0) {
        out += ':' + std::to_string(line);
        if (column > 0) out += ':' + std::to_string(column);
    }
    out += ": ";
    out += message;
    return out;
}

}  // namespace

ConfigError::ConfigError(std::string file_, int line_, int column_, const std::string& message_)
    : std::runtime_error(located(file_, line_, column_, message_)),
      file(std::move(file_)),
      line(line_),
      column(column_),
      message(message_) {}

}  // namespace pershome::config
