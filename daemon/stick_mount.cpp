#include "daemon/stick_mount.hpp"

#include <fcntl.h>
#include <libmount.h>
#include <linux/msdos_fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <thread>

#include "common/unique_fd.hpp"
#include "daemon/command.hpp"
#include "daemon/holders.hpp"
#include "homework/errno_text.hpp"

namespace pershome {
namespace {

using homework::errno_text;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxLastUseBytes = 4096;

bool pread_all(int fd, void* buf, std::size_t n, off_t off) {
    ssize_t got = ::pread(fd, buf, n, off);
    return got == static_cast<ssize_t>(n);
}

}  // namespace

tl::expected<bool, std::string> stick_dirty(const std::string& devnode,
                                            const std::string& fs_type) {
    UniqueFd fd(::open(devnode.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd) return tl::unexpected(fmt::format("cannot open {}: {}", devnode, errno_text(errno)));
    unsigned char boot[512];
    if (!pread_all(fd.get(), boot, sizeof boot, 0))
        return tl::unexpected(fmt::format("cannot read the boot sector of {}", devnode));
    if (fs_type == "exfat") return (boot[106] & 0x02) != 0;  // VolumeFlags.VolumeDirty
    // FAT32 has no 16-bit FAT size (BPB_FATSz16 at 22): its state byte sits
    // after the longer BPB.
    const bool fat32 = boot[22] == 0 && boot[23] == 0;
    return (boot[fat32 ? 0x41 : 0x25] & 0x01) != 0;
}

tl::expected<void, std::string> repair_stick(const std::string& devnode, const std::string& fs_type,
                                             std::chrono::seconds timeout) {
    std::vector<std::string> argv = fs_type == "exfat"
                                        ? std::vector<std::string>{"fsck.exfat", "-y", devnode}
                                        : std::vector<std::string>{"fsck.fat", "-a", "-w", devnode};
    CommandResult r = run_command(argv, timeout);
    // 0: clean; 1: errors were corrected.
    if (r.status == 0 || r.status == 1) return {};
    return tl::unexpected(fmt::format("{} {}", argv[0], r.describe()));
}

tl::expected<void, std::string> mount_stick(const std::string& devnode, const std::string& fs_type,
                                            const std::string& target, bool read_only) {
    std::string data = "uid=0,gid=0,fmask=0077,dmask=0077";
    if (fs_type == "vfat") {
        data += ",utf8=1,shortname=mixed,errors=remount-ro";
    } else if (fs_type == "exfat") {
        data += ",iocharset=utf8,errors=remount-ro";
    } else {
        return tl::unexpected("unsupported filesystem " + fs_type);
    }
    unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME;
    if (read_only) flags |= MS_RDONLY;
    if (::mount(devnode.c_str(), target.c_str(), fs_type.c_str(), flags, data.c_str()) != 0) {
        // exfat is a module since Linux 5.7, and not every kernel carries it.
        if (errno == ENODEV)
            return tl::unexpected(fmt::format(
                "this machine's kernel cannot mount {} (it has no {} driver)", fs_type, fs_type));
        return tl::unexpected(
            fmt::format("mount -t {} {} {}: {}", fs_type, devnode, target, errno_text(errno)));
    }
    return {};
}

StickLook look_at_stick(const std::string& target) {
    StickLook look;
    UniqueFd root(::open(target.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (!root) {
        look.note = fmt::format("cannot open {}: {}", target, errno_text(errno));
        return look;
    }
    struct stat st {};
    if (::fstatat(root.get(), kHomeFolder, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT) look.note = fmt::format("pershome: {}", errno_text(errno));
        return look;
    }
    if (!S_ISDIR(st.st_mode)) {
        look.note = "pershome is a file, not a folder";
        return look;
    }
    look.has_home = true;
    UniqueFd home(
        ::openat(root.get(), kHomeFolder, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (!home) return look;
    UniqueFd f(::openat(home.get(), kLastUseFile, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!f) return look;
    if (::fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode)) return look;
    char buf[kMaxLastUseBytes];
    ssize_t n = ::read(f.get(), buf, sizeof buf);
    if (n > 0) look.last_use = parse_last_use(std::string_view(buf, static_cast<std::size_t>(n)));
    return look;
}

tl::expected<StickLook, std::string> probe_stick(const std::string& devnode,
                                                 const std::string& fs_type,
                                                 const std::string& target) {
    if (auto m = mount_stick(devnode, fs_type, target, true); !m) return tl::unexpected(m.error());
    StickLook look = look_at_stick(target);
    if (::umount2(target.c_str(), 0) != 0) {
        // Read-only and ours alone: nothing can hold it but a racing probe.
        ::umount2(target.c_str(), MNT_DETACH);
    }
    return look;
}

tl::expected<UniqueFd, std::string> open_home_folder(const std::string& target) {
    // Through fds, no symlink followed: a remote backend may show one where
    // a FAT cannot, and root uses what it opened.
    UniqueFd root(::open(target.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    UniqueFd home(
        root ? ::openat(root.get(), kHomeFolder, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
             : -1);
    struct stat in {};
    struct stat top {};
    // A symlink there fails O_DIRECTORY with ENOTDIR.
    if (!home || ::fstat(home.get(), &in) != 0 || ::fstat(root.get(), &top) != 0)
        return tl::unexpected(
            fmt::format("cannot open {}/{}: {}", target, kHomeFolder, errno_text(errno)));
    // Another filesystem there (mounted by a backend) is not the stick.
    if (in.st_dev != top.st_dev)
        return tl::unexpected(
            fmt::format("{}/{} is another filesystem, not the stick's", target, kHomeFolder));
    return home;
}

std::string record_use(const UniqueFd& home, const std::string& target, const LastUse& use) {
    const std::string path = target + "/" + kHomeFolder + "/" + kLastUseFile;
    UniqueFd f(home ? ::openat(home.get(), kLastUseFile,
                               O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
                               0600)
                    : -1);
    if (!f) return fmt::format("cannot write {}: {}", path, errno_text(errno));
    const std::string text = format_last_use(use);
    if (::write(f.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        return fmt::format("cannot write {}: {}", path, errno_text(errno));
    // Hidden from Windows and macOS, as pershome-fs's own files are; exFAT
    // has no such ioctl, and the record works without it.
    uint32_t attrs = ATTR_HIDDEN;
    (void)::ioctl(f.get(), FAT_IOCTL_SET_ATTRIBUTES, &attrs);
    return "";
}

std::string unmount_stick(const std::string& target, std::chrono::seconds grace) {
    {
        UniqueFd fd(::open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        // A failed syncfs shows again as a failed unmount, which is reported.
        if (fd) (void)::syncfs(fd.get());
    }
    const auto deadline = Clock::now() + grace;
    for (;;) {
        if (::umount2(target.c_str(), 0) == 0) return "";
        if (errno == EINVAL || errno == ENOENT) return "";  // not mounted (any more)
        if (errno != EBUSY || Clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    const std::string held_by = describe_holders(target);
    // Read-only first, so whatever still holds it can no longer change it.
    bool ro = ::mount(nullptr, target.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr) == 0;
    ::umount2(target.c_str(), MNT_DETACH);
    return fmt::format("stick at {} was still busy{}; {}detached lazily", target,
                       held_by.empty() ? "" : " (held by " + held_by + ")",
                       ro ? "remounted read-only and " : "");
}

std::string mounted_fs_type(const std::string& path) {
    std::string type;
    libmnt_table* tb = mnt_new_table_from_file("/proc/self/mountinfo");
    if (!tb) return type;
    // Backward: the topmost of stacked mounts.
    if (libmnt_fs* fs = mnt_table_find_target(tb, path.c_str(), MNT_ITER_BACKWARD)) {
        if (const char* t = mnt_fs_get_fstype(fs)) type = t;
    }
    mnt_unref_table(tb);
    return type;
}

std::vector<std::string> backend_command(const std::vector<std::string>& argv_template,
                                         const std::string& source, const std::string& target) {
    // One pass, left to right: a value that holds "{source}" or
    // "{mountpoint}" itself is copied as it is, never expanded again.
    std::vector<std::string> argv;
    for (const std::string& a : argv_template) {
        std::string out;
        for (std::size_t i = 0; i < a.size();) {
            if (a.compare(i, 8, "{source}") == 0) {
                out += source;
                i += 8;
            } else if (a.compare(i, 12, "{mountpoint}") == 0) {
                out += target;
                i += 12;
            } else {
                out += a[i++];
            }
        }
        argv.push_back(std::move(out));
    }
    return argv;
}

tl::expected<void, std::string> mount_backend(const std::vector<std::string>& argv,
                                              const std::string& target,
                                              std::chrono::seconds timeout) {
    CommandResult r = run_command(argv, timeout);
    if (r.status != 0) return tl::unexpected(fmt::format("{} {}", argv[0], r.describe()));
    if (mounted_fs_type(target).empty())
        return tl::unexpected(
            fmt::format("{} ended, but nothing is mounted on {}", argv[0], target));
    return {};
}

LastUse parse_last_use(std::string_view text) {
    LastUse u;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        auto eq = line.find('=');
        if (eq == std::string_view::npos) continue;
        std::string_view key = line.substr(0, eq), value = line.substr(eq + 1);
        if (key == "user") u.user = std::string(value.substr(0, 256));
        if (key == "host") u.host = std::string(value.substr(0, 256));
        if (key == "time") {
            int64_t t = 0;
            for (char c : value) {
                if (c < '0' || c > '9' || t > INT64_MAX / 10 - 10) {
                    t = 0;
                    break;
                }
                t = t * 10 + (c - '0');
            }
            u.time = t;
        }
    }
    return u;
}

std::string format_last_use(const LastUse& use) {
    // One field a line: a control byte in a name must not start another.
    auto line = [](std::string s) {
        for (char& c : s)
            if (static_cast<unsigned char>(c) < 0x20) c = '?';
        return s;
    };
    return fmt::format("user={}\nhost={}\ntime={}\n", line(use.user), line(use.host), use.time);
}

}  // namespace pershome
