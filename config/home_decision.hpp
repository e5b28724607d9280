// Putting persistent_homes(5) and ~/.persistent_home together: does this
// login get a persistent home, and with which options?
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/home_options.hpp"
#include "config/persistent_homes.hpp"
#include "config/user_opt_in.hpp"

namespace pershome::config {

struct HomeDecision {
    bool persistent = false;
    HomeOptions options;  // meaningful only when persistent
    // Why, for logs and for busctl: "/etc/ltsp/persistent_homes:4: @journalism",
    // "/etc/ltsp/persistent_homes:9: !guest", "/home/joe/.persistent_home",
    // "no rule and no opt-in".
    std::string reason;
};

// The admin's first matching rule decides; a negated one also shuts out the
// user's own file. Without a matching rule, an opt-in file (if any) decides.
// With a positive rule, the opt-in file may set what the rule left unset.
// `opt_in` may be null (no file, or not read).
HomeDecision decide_home(const PersistentHomes& admin, std::string_view user,
                         const std::vector<std::string>& groups, const UserOptIn* opt_in);

}  // namespace pershome::config
