// The one exception the config library throws: a fatal problem in the
// daemon's own configuration, located as precisely as the input allows.
#pragma once

#include <stdexcept>
#include <string>

namespace pershome::config {

struct ConfigError : std::runtime_error {
    // what() is "FILE:LINE:COLUMN: message", "FILE:LINE: message" or
    // "FILE: message", depending on what is known, so editors and admins can
    // jump straight to the spot.
    ConfigError(std::string file, int line, int column, const std::string& message);
    ConfigError(std::string file, const std::string& message)
        : ConfigError(std::move(file), 0, 0, message) {}

    std::string file;
    int line = 0;         // 1-based; 0 if unknown
    int column = 0;       // 1-based; 0 if unknown
    std::string message;  // without the location prefix
};

}  // namespace pershome::config
