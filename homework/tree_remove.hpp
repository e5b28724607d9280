// Removal of a home directory tree as root, without following symlinks or crossing mounts.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace pershome::homework {

/// What remove_tree must check about the top entry before touching anything.
struct RemoveOptions {
    /// When set, the top directory must be owned by this uid or nothing is removed.
    std::optional<uid_t> expected_uid;
    /// Upper bound on directory fds held at once (the rest are re-opened through ".." on the
    /// way back up, with an identity check). At least 4 is used whatever is given here.
    unsigned max_open_dirs = 64;
};

/// What remove_tree did. A result with `top_removed == false` is not an error: something was
/// left on purpose (a mount) or could not be removed (listed in `failures`).
struct RemoveStats {
    uint64_t files_removed = 0;  // non-directories: files, symlinks, fifos, devices, sockets
    uint64_t dirs_removed = 0;   // including the top when it went
    bool top_removed = false;
    /// Mount points met inside the tree, relative to the top ("a/b"); their content was not
    /// touched, so they and their ancestors are still there.
    std::vector<std::string> skipped_mounts;
    /// "relative/path: reason" for entries that could not be removed (at most 100 kept).
    std::vector<std::string> failures;
    uint64_t failure_count = 0;
};

/// Removes the directory `name` in `parent_dirfd` and everything below it. Refused (error, and
/// nothing removed) when `name` is a symlink, not a directory, a mount point, or not owned by
/// `options.expected_uid`. Below the top it never follows a symlink (the link itself is
/// unlinked), never enters another filesystem or another mount of the same one (a bind mount
/// has the same st_dev; stx_mnt_id tells them apart), chmods 0700 and retries a directory that
/// root cannot read or write (through an fd checked to be that directory of this tree, never by
/// name), and works iteratively with a bounded number of open fds, so any depth or width is
/// fine. Returns an error, leaving the rest in place, when the tree is moved under it in a way
/// that would make it leave the tree (a directory's ".." is not the parent it came from).
/// Thread-safe: no chdir, no umask, no global state but the test-only step hook. Holds at most
/// `max_open_dirs` + 2 fds at once, plus one 256 KiB getdents buffer and the names of
/// directories still to visit. `parent_dirfd` may be an O_PATH fd; open it in the mount
/// namespace whose mounts must be respected (an fd opened before unshare(CLONE_NEWNS) does not
/// see mounts made after it; the EBUSY of rmdir on a mount point still stops removal there).
[[nodiscard]] tl::expected<RemoveStats, std::string> remove_tree(int parent_dirfd,
                                                                 std::string_view name,
                                                                 const RemoveOptions& options = {});

}  // namespace pershome::homework
