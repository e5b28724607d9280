#include "config/diagnostic.hpp"

namespace pershome::config {

std::string Diagnostic::str() const {
    std::string out = file;
    if (line > 0) out += ':' + std::to_string(line);
    out += ": ";
    if (severity == Severity::Warning) out += "warning: ";
    out += message;
    return out;
}

}  // namespace pershome::config
