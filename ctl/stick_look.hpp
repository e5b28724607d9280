// What a mounted stick is like, for preparing it: its filesystem, whether it
// is the stick's top, writable, how much room, whether pershome/ is there.
// The same look serves `pershomectl prepare` and its --list for the
// patron's dialog, so both say the same thing about one stick.
#pragma once

#include <string>

#include "ctl/ctl_error.hpp"

namespace pershome::ctl {

// A home needs room for its metadata and the skeleton's files.
inline constexpr unsigned long long kMinFreeBytes = 1024 * 1024;

struct StickLook {
    std::string path;  // resolved
    std::string mount_point, fs_type;
    bool fat = false;        // vfat, msdos, exfat, or a FUSE driver of them
    bool top = false;        // PATH is the mount's top
    bool read_only = false;  // mounted read-only
    bool writable = false;   // the caller may create in PATH
    unsigned long long free = 0, total = 0;
    enum class Home { None, Folder, NotAFolder } home = Home::None;
};

Result<StickLook> look_at(const std::string& path);

// "ready", "prepared", "not-fat", "not-top", "read-only", "not-writable",
// "full" or "blocked" (pershome is a file): the first that applies.
std::string status_of(const StickLook& look);

bool is_fat_type(const std::string& fs_type);

}  // namespace pershome::ctl
