// pershomectl prepare: make a stick ready to carry a persistent home (the
// folder pershome/ at its top), after checking that it can; and --list, the
// sticks the patron's dialog (pershome-prepare) offers.
#pragma once

#include <optional>
#include <string>

#include "ctl/ctl_error.hpp"
#include "ctl/daemon_client.hpp"

namespace pershome::ctl {

// TARGET: a mount point (or a folder with --force) or a mounted device node.
// Prints what it did; an already prepared stick is success.
Result<int> prepare_command(const std::string& target, bool force);

// One line per mounted stick: MOUNTPOINT TAB LABEL TAB FSTYPE TAB FREE TAB
// STATUS (see status_of). Sticks are pershomed's devices (SNAP, when the
// daemon answered) as mounted by the desktop, and the mounts below /media
// and /run/media.
int prepare_list(const std::optional<Snapshot>& snap);

}  // namespace pershome::ctl
