// Creating the home directory itself, before copy_skel fills it.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "common/unique_fd.hpp"

namespace pershome::homework {

/// Creates the directory `name` in `parent_dirfd` (mkdirat, so an existing entry of any kind,
/// symlink included, is an error: EEXIST), then sets owner uid:gid and exactly `mode` (no
/// umask involved; setuid/setgid bits are dropped) through an fd opened with O_NOFOLLOW and
/// checked to be the directory we made. Returns that fd, ready for copy_skel.
tl::expected<UniqueFd, std::string> create_home_dir(int parent_dirfd, std::string_view name,
                                                    uid_t uid, gid_t gid, mode_t mode);

}  // namespace pershome::homework
