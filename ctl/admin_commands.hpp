// pershomectl terminate and eject: root's commands, which the daemon and
// its D-Bus policy restrict; we only find the object and say what happened.
#pragma once

#include <string>

#include "ctl/ctl_error.hpp"
#include "ctl/daemon_client.hpp"

namespace pershome::ctl {

Result<int> terminate_command(DaemonClient& client, const BusTarget& target,
                              const std::string& user);
// DEVICE: a name (term07-sdb1), a device node (/dev/sdb1) or a label.
Result<int> eject_command(DaemonClient& client, const BusTarget& target, const std::string& device);

}  // namespace pershome::ctl
