// Which processes still hold a mounted home or stick (cwd, root or an open
// file below it), and ending those of one user at logout: Debian leaves
// KillUserProcesses=no, so systemd --user, gpg-agent and the like outlive the
// last login and would keep the home busy.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace pershome {

struct Holder {
    pid_t pid = 0;
    uid_t uid = 0;
    std::string comm;
};

// Processes (of any user, or of ONLY_UID) with their cwd, root or an fd at
// or below PATH.
std::vector<Holder> find_holders(const std::string& path, std::optional<uid_t> only_uid = {});

// "pid 812 (gpg-agent, uid 20001), pid 900 (bash, uid 0)", at most 8 named.
std::string describe_holders(const std::string& path);

// SIGTERM to UID's processes holding PATH, SIGKILL after GRACE to those left;
// never a process of another uid. Returns how many were asked to end.
std::size_t end_user_holders(const std::string& path, uid_t uid, std::chrono::seconds grace);

}  // namespace pershome
