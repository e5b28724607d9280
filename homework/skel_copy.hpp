// Filling a fresh home from a skeleton directory, as root, without following anything.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace pershome::homework {

/// What copy_skel did.
struct CopyStats {
    uint64_t files = 0;
    uint64_t dirs = 0;
    uint64_t symlinks = 0;
    uint64_t bytes = 0;
    uint64_t skipped = 0;  // device nodes, fifos, sockets
    /// "relative/path: character device skipped" and the like, at most 100 kept.
    std::vector<std::string> notes;
};

/// Deepest skeleton accepted; each level holds two fds while it is being copied.
inline constexpr unsigned kMaxSkelDepth = 128;

/// Copies the contents of the directory `skel_dirfd` into the existing, empty directory
/// `dest_dirfd` (which itself is left as it is). Regular files keep their data, permission
/// bits and times; directories their mode; symlinks are recreated with the same target text
/// (never followed); device nodes, fifos and sockets are skipped and noted. Every new entry is
/// owned by uid:gid; setuid and setgid bits are dropped. New entries are made with O_EXCL /
/// mkdirat / symlinkat relative to fds we hold, so a user racing inside `dest` cannot redirect
/// a write; owners and times are then changed only through fds checked to be what was made
/// (an entry swapped meanwhile is an error naming it, and nothing outside is touched). Call it
/// on a destination only root can enter (see create_home_dir). Hard links become separate copies.
/// Iterative; fails (error naming the relative path) on the first entry that cannot be copied,
/// leaving what was done for the caller to remove. Thread-safe: no chdir, no umask
/// change (modes are set with fchmod), no global state but the test-only step hook. Holds two fds
/// per directory level being copied (at most 2 * kMaxSkelDepth + 3, with the new symlink being
/// checked). Both fds may be O_PATH. Extended attributes and ACLs are not copied.
[[nodiscard]] tl::expected<CopyStats, std::string> copy_skel(int skel_dirfd, int dest_dirfd,
                                                             uid_t uid, gid_t gid);

}  // namespace pershome::homework
