#include "pam-shim/args.hpp"

#include <charconv>
#include <string_view>

namespace pershome::pam {
namespace {

using Severity = Diagnostic::Severity;

void error(ParseResult& r, std::string text) {
    r.diagnostics.push_back({Severity::kError, std::move(text)});
}

void warning(ParseResult& r, std::string text) {
    r.diagnostics.push_back({Severity::kWarning, std::move(text)});
}

// An absolute path; the daemon checks everything else about it (it is the
// one that may look at the filesystem).
void parse_path(ParseResult& r, std::string_view key, std::string_view value,
                std::optional<std::string>& out) {
    std::string arg = std::string(key) + "=" + std::string(value);
    if (out) {
        error(r, "argument " + arg + " repeats " + std::string(key) +
                     "=; give it once so that it is clear which one applies");
        return;
    }
    if (value.empty()) {
        error(r, "argument " + arg + " has an empty value; an absolute path is required");
        return;
    }
    if (value.front() != '/') {
        error(r, "argument " + arg + " is not an absolute path");
        return;
    }
    out = std::string(value);
}

void parse_umask(ParseResult& r, std::string_view value, std::optional<unsigned>& out) {
    std::string arg = "umask=" + std::string(value);
    if (out) {
        error(r, "argument " + arg + " repeats umask=; give it once");
        return;
    }
    // from_chars would accept a leading '-' for signed types only, but it
    // stops at the first non-digit; so demand that it consumed everything.
    unsigned v = 0;
    const char* end = value.data() + value.size();
    auto [ptr, ec] = std::from_chars(value.data(), end, v, 8);
    if (value.empty() || ec != std::errc{} || ptr != end || v > 0777) {
        error(r, "argument " + arg + " is not an octal umask between 0 and 0777");
        return;
    }
    out = v;
}

void parse_timeout(ParseResult& r, std::string_view value, bool& seen) {
    std::string arg = "timeout=" + std::string(value);
    if (seen) {
        error(r, "argument " + arg + " repeats timeout=; give it once");
        return;
    }
    seen = true;
    unsigned v = 0;
    const char* end = value.data() + value.size();
    auto [ptr, ec] = std::from_chars(value.data(), end, v, 10);
    if (value.empty() || ec != std::errc{} || ptr != end || v == 0 || v > kMaxTimeoutSeconds) {
        error(r, "argument " + arg + " is not a whole number of seconds between 1 and " +
                     std::to_string(kMaxTimeoutSeconds));
        return;
    }
    r.options.timeout_seconds = v;
}

}  // namespace

ParseResult parse_args(int argc, const char* const* argv) {
    ParseResult r;
    bool timeout_seen = false;
    for (int i = 0; i < argc; ++i) {
        if (argv == nullptr || argv[i] == nullptr) continue;
        std::string_view arg(argv[i]);
        if (arg == "debug") {
            r.options.debug = true;
            continue;
        }
        if (arg == "quiet") {
            r.options.quiet = true;
            continue;
        }
        // Split at the first '=' and compare the whole key: the seed compared
        // only a prefix, so "tmphomeX=" or "tmpho=" were taken for "tmphome=".
        auto eq = arg.find('=');
        std::string_view key = eq == std::string_view::npos ? arg : arg.substr(0, eq);
        std::string_view value =
            eq == std::string_view::npos ? std::string_view{} : arg.substr(eq + 1);
        bool has_value = eq != std::string_view::npos;
        if (has_value && key == "tmphome") {
            parse_path(r, key, value, r.options.tmphome);
        } else if (has_value && key == "skel") {
            parse_path(r, key, value, r.options.skel);
        } else if (has_value && key == "umask") {
            parse_umask(r, value, r.options.umask);
        } else if (has_value && key == "timeout") {
            parse_timeout(r, value, timeout_seen);
        } else if (!has_value &&
                   (key == "tmphome" || key == "skel" || key == "umask" || key == "timeout")) {
            // A known key without '=' is almost surely a typo for key=VALUE;
            // ignoring it would silently drop what the admin asked for.
            error(r,
                  "argument " + std::string(arg) + " needs a value (" + std::string(key) + "=...)");
        } else {
            warning(r, "unknown argument " + std::string(arg) + " ignored");
        }
    }
    return r;
}

}  // namespace pershome::pam
