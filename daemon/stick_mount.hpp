// The raw stick: its FAT dirty bit, repair, mount below the state dir (where
// only root reaches it), the look for pershome/ and the last-use record, and
// the unmount. Blocking: called on worker threads.
#pragma once

#include <chrono>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "common/unique_fd.hpp"
#include "daemon/device.hpp"

namespace pershome {

inline constexpr const char* kHomeFolder = "pershome";
// In pershome/; pershome-fs reserves the name, so it never shows in the home.
inline constexpr const char* kLastUseFile = "PERSHOME.USE";

// Whether the FAT boot sector of DEVNODE says the volume was not unmounted
// cleanly (Linux sets the bit at mount and clears it at unmount). exfat: its
// VolumeDirty flag.
[[nodiscard]] tl::expected<bool, std::string> stick_dirty(const std::string& devnode,
                                                          const std::string& fs_type);

// fsck.fat -a (fsck.exfat -y) with a deadline: repairs what a pull left.
[[nodiscard]] tl::expected<void, std::string> repair_stick(const std::string& devnode,
                                                           const std::string& fs_type,
                                                           std::chrono::seconds timeout);

// Mounts DEVNODE on TARGET (an existing directory) nosuid,nodev,noexec with
// the options that keep names intact (utf8, shortname=mixed), owned by root
// and private to it (the pershome-fs above it shows the user's view).
[[nodiscard]] tl::expected<void, std::string> mount_stick(const std::string& devnode,
                                                          const std::string& fs_type,
                                                          const std::string& target,
                                                          bool read_only);

struct StickLook {
    bool has_home = false;
    LastUse last_use;
    std::string note;  // "pershome is a file, not a folder", ...
};

// Looks at a mounted stick: is pershome/ a real directory, and what does its
// last-use record say.
StickLook look_at_stick(const std::string& target);

// Probes an unmounted stick: mounts it read-only on TARGET, looks, unmounts.
[[nodiscard]] tl::expected<StickLook, std::string> probe_stick(const std::string& devnode,
                                                               const std::string& fs_type,
                                                               const std::string& target);

// TARGET/pershome opened O_PATH, no symlink followed at either step, on
// TARGET's filesystem: what the home is made of from here on.
[[nodiscard]] tl::expected<UniqueFd, std::string> open_home_folder(const std::string& target);

// Writes the last-use record into HOME (TARGET/pershome, for messages); a
// failure is only a note.
std::string record_use(const UniqueFd& home, const std::string& target, const LastUse& use);

// syncfs, then unmount; retried while busy until GRACE, then remounted
// read-only and detached lazily. Returns a note (what held it) or "".
std::string unmount_stick(const std::string& target, std::chrono::seconds grace);

// The filesystem type mounted exactly at PATH (the topmost, per
// /proc/self/mountinfo), or "" when nothing is.
std::string mounted_fs_type(const std::string& path);

// A remote stick (LTSP5's ltspfs, say): runs the backend's argv TEMPLATE with
// {source} and {mountpoint} replaced, no shell, clean environment, deadline;
// then something must be mounted on TARGET.
std::vector<std::string> backend_command(const std::vector<std::string>& argv_template,
                                         const std::string& source, const std::string& target);
[[nodiscard]] tl::expected<void, std::string> mount_backend(const std::vector<std::string>& argv,
                                                            const std::string& target,
                                                            std::chrono::seconds timeout);

// Parses a PERSHOME.USE text; unknown lines are ignored.
LastUse parse_last_use(std::string_view text);
std::string format_last_use(const LastUse& use);

}  // namespace pershome
