// The mount table (libmount, from /proc/self/mountinfo): where a stick is
// mounted and with which filesystem.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace pershome::ctl {

struct MountEntry {
    std::string target, source, fs_type;
    bool read_only = false;
};

std::vector<MountEntry> all_mounts();
// The mount that holds PATH (an existing path, resolved).
std::optional<MountEntry> mount_of(const std::string& path);

}  // namespace pershome::ctl
