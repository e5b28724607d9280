// ~/.persistent_home: a user asks for a persistent home themselves. The
// file's presence is the request; its content may tune it with the same
// options a persistent_homes(5) rule takes. Documented in that man page.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "config/diagnostic.hpp"
#include "config/home_options.hpp"

namespace pershome::config {

inline constexpr const char* kUserOptInName = ".persistent_home";
inline constexpr std::size_t kMaxUserOptInBytes = 64 * 1024;
inline constexpr std::size_t kMaxUserOptInDiagnostics = 20;

struct UserOptIn {
    std::string file;     // for messages
    RuleOptions options;  // what the user set; bad words are left out
};

// Never throws: unreadable words are skipped with a Diagnostic, and the
// opt-in itself stands.
UserOptIn parse_user_opt_in(std::string_view text, const std::string& filename,
                            Diagnostics& diagnostics);

// Reads `.persistent_home` in the directory `home_dirfd` (the user's home).
// nullopt when it is absent (no diagnostic) or when it cannot be trusted
// (with a diagnostic): a symlink, not a regular file, not owned by `owner`,
// writable by group or others, over 64 KiB, unreadable.
// `display_path` names the file in diagnostics (e.g. "/home/joe/.persistent_home").
std::optional<UserOptIn> load_user_opt_in(int home_dirfd, uid_t owner,
                                          const std::string& display_path,
                                          Diagnostics& diagnostics);

}  // namespace pershome::config
