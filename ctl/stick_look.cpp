#include "ctl/stick_look.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include <filesystem>

#include "ctl/mounts.hpp"

namespace pershome::ctl {

namespace fs = std::filesystem;

bool is_fat_type(const std::string& fs_type) {
    // fusefat shows as fuse.fusefat, exfat-fuse as fuseblk (exfat only).
    for (const char* t : {"vfat", "msdos", "exfat", "fuse.fusefat", "fuse.exfat", "fuseblk"})
        if (fs_type == t) return true;
    return false;
}

Result<StickLook> look_at(const std::string& path) {
    std::error_code ec;
    StickLook look;
    look.path = fs::canonical(path, ec);
    if (ec) return fail(path + ": " + ec.message());
    if (!fs::is_directory(look.path, ec)) return fail(path + ": not a folder");
    if (auto m = mount_of(look.path)) {
        look.mount_point = m->target;
        look.fs_type = m->fs_type;
        look.read_only = m->read_only;
    }
    look.fat = is_fat_type(look.fs_type);
    look.top = look.mount_point == look.path;
    struct statvfs sv {};
    if (::statvfs(look.path.c_str(), &sv) == 0) {
        look.free = static_cast<unsigned long long>(sv.f_bavail) * sv.f_frsize;
        look.total = static_cast<unsigned long long>(sv.f_blocks) * sv.f_frsize;
        look.read_only = look.read_only || (sv.f_flag & ST_RDONLY);
    }
    look.writable = !look.read_only && ::access(look.path.c_str(), W_OK) == 0;
    const fs::path home = fs::path(look.path) / "pershome";
    if (fs::is_directory(home, ec))
        look.home = StickLook::Home::Folder;
    else if (fs::exists(fs::symlink_status(home, ec)))
        look.home = StickLook::Home::NotAFolder;
    return look;
}

std::string status_of(const StickLook& look) {
    if (look.home == StickLook::Home::Folder) return "prepared";
    if (!look.fat) return "not-fat";
    if (!look.top) return "not-top";
    if (look.home == StickLook::Home::NotAFolder) return "blocked";
    if (look.read_only) return "read-only";
    if (!look.writable) return "not-writable";
    if (look.free < kMinFreeBytes) return "full";
    return "ready";
}

}  // namespace pershome::ctl
