// Changing an entry through an fd that names one inode, never by its name again: a process
// of the user that swaps the name for a link to someone else's file then changes nothing.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <string>

#include <tl/expected.hpp>

#include "common/unique_fd.hpp"

namespace pershome::homework {

/// Whether `st` can be the entry root has just created in a directory on `parent_dev`: of
/// `type` (S_IFDIR, S_IFLNK, ...), owned by the effective uid and on the same filesystem, and,
/// unless a directory, with one link. What a user can swap in fails one of these: an entry
/// of their own has their uid, a hard link to root's file has a second link, and a directory
/// of root's cannot be moved in by them (that needs write access to the directory itself).
[[nodiscard]] bool is_fresh_entry(const struct stat& st, dev_t parent_dev, mode_t type);

/// Opens `name` in `dirfd` with O_PATH | O_NOFOLLOW and checks it with is_fresh_entry. The
/// error says why, without the name (the caller knows how to name it).
[[nodiscard]] tl::expected<UniqueFd, std::string> open_fresh_entry(int dirfd, const char* name,
                                                                   mode_t type);

/// chmod through any fd, O_PATH ones included (fchmod refuses those with EBADF): through its
/// /proc/self/fd link, which names the inode the fd holds, as glibc's fchmodat does.
/// Returns 0 or the errno.
[[nodiscard]] int chmod_fd(int fd, mode_t mode);

}  // namespace pershome::homework
