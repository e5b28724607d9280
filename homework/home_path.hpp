// Lexical path checks and the safe opening of a tmphome root named on a PAM line.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "common/unique_fd.hpp"

namespace pershome::homework {

/// Collapses "//", "." and ".." in an absolute path without touching the filesystem and drops
/// any trailing slash ("/a/./b/../c/" -> "/a/c"; ".." at the root stays at the root).
/// A relative input is normalised the same way but stays relative.
std::string normalize_lexically(std::string_view absolute_path);

/// The path of `home` relative to `root` when `home` lies strictly below `root` at a path
/// component boundary, both normalised first ("/tmphome/a/b" below "/tmphome" -> "a/b").
/// nullopt when either path is relative, when `home` equals `root`, or when it is elsewhere
/// ("/tmphome2/x" and "/tmphome/../etc" are not below "/tmphome").
std::optional<std::string> relative_below(std::string_view root, std::string_view home);

/// A validated tmphome root: its normalised absolute path and a directory fd that stays valid
/// for it whatever happens to the path later (renames, symlink swaps).
struct TmphomeRoot {
    std::string path;
    UniqueFd fd;  // O_RDONLY|O_DIRECTORY, usable as a dirfd for *at() calls and fstat
};

/// Validates a tmphome root as given on a PAM line and opens it. Refused, with a sentence
/// naming the path and the reason: a relative path; after normalising, "/", "/home", a path
/// inside /home or one that contains /home; any component that is a symlink, missing, or not
/// a directory (walked one component at a time from "/" with O_NOFOLLOW); an ancestor that is
/// writable by non-root without the sticky bit, or owned by someone else than root; and a
/// final directory not owned by root or writable by group or others.
[[nodiscard]] tl::expected<TmphomeRoot, std::string> open_tmphome_root(std::string_view raw);

/// How open_dir_below treats the directories it walks through.
struct WalkOptions {
    /// Create a missing directory (root's, mode 0755) instead of failing with kMissing.
    bool create = false;
    /// Every directory opened must be root's and not writable by group or others: one a user
    /// may write is one whose entries they can swap under root's feet.
    bool root_owned = false;
    /// Prefix for the paths named in errors ("/tmphome" makes them "/tmphome/a/b").
    std::string shown_base;
};

enum class WalkFailure {
    kMissing,  // a component does not exist (never with `create`)
    kUnsafe,   // a symlink, not a directory, "..", or not root's when root_owned was asked
    kFailed,   // anything else: the errno is in the message
};

struct WalkError {
    WalkFailure kind;
    std::string message;  // names the component and the reason
};

/// Opens the directory at `relative` (one or more components, no "..", no leading "/") below
/// `dirfd`, one component at a time with O_NOFOLLOW: a symlink anywhere is refused. An empty
/// path or "." reopens `dirfd` itself.
[[nodiscard]] tl::expected<UniqueFd, WalkError> open_dir_below(int dirfd, std::string_view relative,
                                                               const WalkOptions& options = {});

}  // namespace pershome::homework
