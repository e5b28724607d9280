// Creating the home directory itself: private to root while copy_skel fills it, then handed
// to its user in one last step.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "common/unique_fd.hpp"

namespace pershome::homework {

/// Creates the directory `name` in `parent_dirfd` (mkdirat, so an existing entry of any kind,
/// symlink included, is an error: EEXIST), owned by root with mode 0700, and returns an fd of
/// it, opened with O_NOFOLLOW and checked to be the directory we made. Nobody but root can
/// enter it, so no process of the user can race what is created inside before hand_over.
[[nodiscard]] tl::expected<UniqueFd, std::string> create_home_dir(int parent_dirfd,
                                                                  std::string_view name);

/// Gives the home held by `home_fd` to uid:gid and then sets exactly `mode` (no umask; setuid
/// and setgid dropped), both through the fd. Call it last, when the home is complete.
[[nodiscard]] tl::expected<void, std::string> hand_over(int home_fd, uid_t uid, gid_t gid,
                                                        mode_t mode);

}  // namespace pershome::homework
