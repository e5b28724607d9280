// Who gets which home, decided on a worker at each login: the user from NSS,
// their groups, the admin's persistent_homes(5) (read anew, so an edit takes
// effect at the next login) and ~/.persistent_home, read with the user's own
// filesystem credentials so that it can never be someone else's file.
#pragma once

#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "config/home_decision.hpp"
#include "daemon/op_error.hpp"
#include "daemon/user_db.hpp"

namespace pershome {

struct LoginDecision {
    UserInfo user;
    config::HomeDecision home;
    std::vector<std::string> warnings;  // diagnostics of the files read, escaped, for the log
};

// USER as NSS gave it (one lookup per login, made by the caller).
LoginDecision decide_login(const UserInfo& user, const std::string& persistent_homes_path);

// The names of every group of USER (primary and supplementary).
std::vector<std::string> user_groups(const UserInfo& user);

}  // namespace pershome
