#include "config/user_opt_in.hpp"

#include <sys/stat.h>

#include <cerrno>

#include "config/config_lines.hpp"
#include "config/read_file.hpp"

namespace pershome::config {

UserOptIn parse_user_opt_in(std::string_view text, const std::string& filename,
                            Diagnostics& diagnostics) {
    UserOptIn out;
    out.file = filename;
    const std::size_t first_diagnostic = diagnostics.size();
    LineLimits limits;
    limits.max_file_bytes = kMaxUserOptInBytes;
    for (const ConfigLine& line : split_config_lines(text, filename, diagnostics, limits)) {
        for (const std::string& word : line.words) {
            if (auto err = apply_option(word, out.options)) {
                diagnostics.push_back(
                    Diagnostic{filename, line.number, Severity::Error, *err + "; ignored"});
            }
        }
    }
    cap_diagnostics(diagnostics, first_diagnostic, kMaxUserOptInDiagnostics, filename);
    return out;
}

std::optional<UserOptIn> load_user_opt_in(int home_dirfd, uid_t owner,
                                          const std::string& display_path,
                                          Diagnostics& diagnostics) {
    auto ignore = [&](const std::string& why) {
        diagnostics.push_back(
            Diagnostic{display_path, 0, Severity::Error, why + "; file ignored, no opt-in"});
        return std::nullopt;
    };
    struct stat st {};
    auto text = read_config_file_at(home_dirfd, kUserOptInName, kMaxUserOptInBytes, &st);
    if (!text) {
        if (text.error().error == ENOENT) return std::nullopt;
        return ignore(text.error().message);
    }
    // The daemon reads this as root: only the user may have put it there, or
    // another user could choose someone's stick for them. Not even root's
    // files: a hard link to one (say /etc/shadow) would have its words
    // quoted into the log.
    if (st.st_uid != owner) {
        return ignore("owned by uid " + std::to_string(st.st_uid) + ", not by the user (uid " +
                      std::to_string(owner) + ")");
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) return ignore("writable by group or others");
    return parse_user_opt_in(*text, display_path, diagnostics);
}

}  // namespace pershome::config
