// The privileged file work of temporary homes, run on worker threads: make a
// fresh home below a tmphome root from skel, and remove it again. Every path
// is walked with directory fds and O_NOFOLLOW from a validated root, so a
// symlink planted by a user can never redirect root's hands.
#pragma once

#include <sys/types.h>

#include <string>
#include <tl/expected.hpp>

#include "daemon/op_error.hpp"
#include "daemon/user_db.hpp"

namespace pershome {

struct TmphomeSpec {
    UserInfo user;
    std::string root;  // as validated by check_tmphome_applies
    std::string skel;
    mode_t umask = 077;
};

// Whether USER's passwd home lies strictly below ROOT, and ROOT is safe to
// work in (the Manager has already answered NotApplicable to users whose
// home lies elsewhere: a root is judged only for the users it applies to).
tl::expected<std::string, OpError> check_tmphome_applies(const UserInfo& user,
                                                         const std::string& root);

// Creates the home fresh: a leftover from a crash is wiped first. Returns a
// note for the log (e.g. skel missing), empty if none.
tl::expected<std::string, OpError> create_tmphome(const TmphomeSpec& spec);

// Removes the home. Returns a note for the log and the user (e.g. a mount
// inside the home was left in place), empty if none.
tl::expected<std::string, OpError> remove_tmphome(const std::string& root, const std::string& home,
                                                  uid_t uid);

}  // namespace pershome
