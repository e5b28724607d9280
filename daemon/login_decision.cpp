#include "daemon/login_decision.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/fsuid.h>
#include <unistd.h>

#include <fmt/core.h>

#include "common/bus_names.hpp"
#include "common/display_text.hpp"
#include "common/unique_fd.hpp"
#include "config/persistent_homes.hpp"
#include "config/user_opt_in.hpp"

namespace pershome {
namespace {

// Filesystem credentials of USER for this thread only (Linux keeps fsuid per
// thread), back to root at scope exit. Supplementary groups stay root's, so
// the owner check of load_user_opt_in is what shuts out other files.
class AsUser {
  public:
    explicit AsUser(const UserInfo& u) {
        ::setfsgid(u.gid);
        ::setfsuid(u.uid);
    }
    ~AsUser() {
        ::setfsuid(0);
        ::setfsgid(0);
    }
    AsUser(const AsUser&) = delete;
    AsUser& operator=(const AsUser&) = delete;
};

std::optional<config::UserOptIn> read_opt_in(const UserInfo& user, config::Diagnostics& diags) {
    if (user.home.empty() || user.home[0] != '/') return std::nullopt;
    AsUser as(user);
    UniqueFd home(::open(user.home.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    // No home yet (a patron below /tmphome) or not reachable: no opt-in.
    if (!home) return std::nullopt;
    return config::load_user_opt_in(home.get(), user.uid, user.home + "/" + config::kUserOptInName,
                                    diags);
}

}  // namespace

std::vector<std::string> user_groups(const UserInfo& user) {
    int n = 64;
    std::vector<gid_t> gids(static_cast<std::size_t>(n));
    while (::getgrouplist(user.name.c_str(), user.gid, gids.data(), &n) < 0 && n < 65536) {
        gids.resize(static_cast<std::size_t>(n) * 2);
        n = static_cast<int>(gids.size());
    }
    gids.resize(static_cast<std::size_t>(std::max(n, 0)));
    std::vector<std::string> names;
    std::vector<char> buf(16384);
    for (gid_t g : gids) {
        group gr{};
        group* res = nullptr;
        if (::getgrgid_r(g, &gr, buf.data(), buf.size(), &res) == 0 && res)
            names.push_back(gr.gr_name);
    }
    return names;
}

LoginDecision decide_login(const UserInfo& user_info, const std::string& persistent_homes_path) {
    const UserInfo* user = &user_info;
    LoginDecision out;
    out.user = user_info;
    config::Diagnostics diags;
    config::PersistentHomes admin = config::load_persistent_homes(persistent_homes_path, diags);
    std::optional<config::UserOptIn> opt_in;
    const auto groups = user_groups(*user);
    const config::Rule* rule = admin.match(user->name, groups);
    // A negated rule shuts the user's own file out: not even read.
    if (!rule || !rule->negated) opt_in = read_opt_in(*user, diags);
    out.home = config::decide_home(admin, user->name, groups, opt_in ? &*opt_in : nullptr);
    for (const auto& d : diags) out.warnings.push_back(display_text(d.str(), 512));
    return out;
}

}  // namespace pershome
