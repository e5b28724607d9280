// Parsing of pam_pershome.so's module arguments (the words after the module
// name on its PAM line). Kept free of PAM and D-Bus so that it can be unit
// tested on its own.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace pershome::pam {

// Used when the PAM line has no timeout=. D-Bus's own default method timeout,
// which is what the daemon's author assumes a caller waits; long enough for a
// big skel copy or a slow stick, short enough that a hung daemon does not
// look like a hung machine.
inline constexpr unsigned kDefaultTimeoutSeconds = 25;
// Upper bound for timeout=, so that a typo cannot hold a login for hours.
inline constexpr unsigned kMaxTimeoutSeconds = 3600;

struct Options {
    std::optional<std::string> tmphome;                 // tmphome=ABSOLUTE-PATH
    std::optional<std::string> skel;                    // skel=ABSOLUTE-PATH
    std::optional<unsigned> umask;                      // umask=OCTAL, at most 0777
    unsigned timeout_seconds = kDefaultTimeoutSeconds;  // timeout=SECONDS
    bool debug = false;
    bool quiet = false;
};

struct Diagnostic {
    enum class Severity {
        // Logged; the module goes on (an unknown argument).
        kWarning,
        // Logged; the module fails closed with PAM_SESSION_ERR, because going
        // on would mean guessing what the administrator meant.
        kError,
    };
    Severity severity;
    std::string text;
};

struct ParseResult {
    Options options;
    std::vector<Diagnostic> diagnostics;

    bool ok() const noexcept {
        for (const auto& d : diagnostics)
            if (d.severity == Diagnostic::Severity::kError) return false;
        return true;
    }
};

// Parses ARGC words of ARGV. Keys match exactly ("tmphome=", not a prefix of
// it); see docs/pam_pershome.8.md for the rules.
ParseResult parse_args(int argc, const char* const* argv);

}  // namespace pershome::pam
