// A problem found in a file an admin or user wrote. Collected, never thrown:
// a bad line must not keep anyone from logging in.
#pragma once

#include <string>
#include <vector>

namespace pershome::config {

enum class Severity {
    Warning,  // the line still counts (e.g. a rule that can never match)
    Error,    // the line, or the option, was ignored
};

struct Diagnostic {
    std::string file;
    int line = 0;  // 1-based; 0 for the file as a whole
    Severity severity = Severity::Error;
    std::string message;

    // "FILE:LINE: message", "FILE:LINE: warning: message", "FILE: message".
    std::string str() const;
    bool operator==(const Diagnostic&) const = default;
};

using Diagnostics = std::vector<Diagnostic>;

// Keeps at most `max` of the diagnostics from index `first` on, replacing
// the rest by one summary: a file of garbage must not flood the journal.
void cap_diagnostics(Diagnostics& diagnostics, std::size_t first, std::size_t max,
                     const std::string& file);

}  // namespace pershome::config
