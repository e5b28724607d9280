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

void cap_diagnostics(Diagnostics& diagnostics, std::size_t first, std::size_t max,
                     const std::string& file) {
    if (diagnostics.size() <= first + max) return;
    const std::size_t dropped = diagnostics.size() - first - max;
    diagnostics.resize(first + max);
    diagnostics.push_back(
        Diagnostic{file, 0, Severity::Error, std::to_string(dropped) + " more problems not shown"});
}

}  // namespace pershome::config
