#include "daemon/persistent_home.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/core.h>

#include <atomic>
#include <cctype>
#include <thread>

#include "common/bus_names.hpp"
#include "common/unique_fd.hpp"
#include "daemon/command.hpp"
#include "daemon/holders.hpp"
#include "daemon/log.hpp"
#include "daemon/stick_mount.hpp"
#include "daemon/tmphome.hpp"
#include "homework/errno_text.hpp"

namespace pershome {
namespace {

using homework::errno_text;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kFsType = "fuse.pershome-fs";

OpError failed(std::string message) {
    return OpError{bus::kErrorFailed, std::move(message)};
}

// The home's mount point: the passwd home when it is a real directory, else
// made here (root's, 0755) so that nothing the user writes after logout can
// land in it unseen. Its parent must be root's and not writable by others.
tl::expected<bool, std::string> prepare_mount_point(const std::string& home) {
    struct stat st {};
    if (::lstat(home.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return tl::unexpected(home + " exists and is not a directory");
        return false;
    }
    if (errno != ENOENT) return tl::unexpected(fmt::format("{}: {}", home, errno_text(errno)));
    const auto slash = home.rfind('/');
    const std::string parent = slash == 0 ? "/" : home.substr(0, slash);
    UniqueFd pfd(::open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!pfd || ::fstat(pfd.get(), &st) != 0)
        return tl::unexpected(fmt::format("{}: {}", parent, errno_text(errno)));
    if (st.st_uid != 0 || ((st.st_mode & 022) != 0 && !(st.st_mode & S_ISVTX)))
        return tl::unexpected(parent + " is not root's alone: no mount point is made in it");
    const std::string name = home.substr(slash + 1);
    if (::mkdirat(pfd.get(), name.c_str(), 0755) != 0)
        return tl::unexpected(fmt::format("cannot make {}: {}", home, errno_text(errno)));
    return true;
}

// A leftover temporary home where the mount point belongs goes first.
tl::expected<void, std::string> clear_leftover(const PersistentSpec& s) {
    struct stat st {};
    if (s.leftover_root.empty() || ::lstat(s.user.home.c_str(), &st) != 0) return {};
    auto root = check_tmphome_applies(s.user, s.leftover_root);
    if (!root) return tl::unexpected(root.error().message);
    auto removed = remove_tmphome(*root, s.user.home, s.user.uid);
    if (!removed)
        return tl::unexpected(fmt::format("a leftover temporary home is in the way at {}: {}",
                                          s.user.home, removed.error().message));
    if (!removed->empty()) log::warning("{}: {}", s.user.name, *removed);
    if (::lstat(s.user.home.c_str(), &st) == 0)
        return tl::unexpected(fmt::format(
            "a leftover temporary home is in the way at {} and could not be removed", s.user.home));
    log::notice("{}: leftover temporary home {} removed before the stick's home is mounted there",
                s.user.name, s.user.home);
    return {};
}

// Waits until pershome-fs's mount shows on HOME, or its process ends, or the deadline.
tl::expected<void, std::string> wait_mounted(const std::string& home, pid_t pid,
                                             std::chrono::seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (mounted_fs_type(home) == kFsType) return {};
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            return tl::unexpected(
                fmt::format("pershome-fs ended before mounting ({})",
                            WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                                              : fmt::format("signal {}", WTERMSIG(status))));
        }
        if (Clock::now() >= deadline) {
            ::kill(pid, SIGKILL);
            wait_exit(pid, 5s);
            return tl::unexpected(
                fmt::format("pershome-fs did not mount within {} s", timeout.count()));
        }
        std::this_thread::sleep_for(5ms);
    }
}

// Stops pershome-fs and waits: its last index write happens after the
// unmount, before it exits.
std::string stop_fs(pid_t pid, std::chrono::seconds wait) {
    if (pid <= 0 || wait_exit(pid, std::chrono::duration_cast<std::chrono::milliseconds>(wait)))
        return "";
    ::kill(pid, SIGTERM);
    if (wait_exit(pid, 20s)) return fmt::format("pershome-fs (pid {}) needed SIGTERM", pid);
    ::kill(pid, SIGKILL);
    wait_exit(pid, 5s);
    return fmt::format("pershome-fs (pid {}) was killed: its last metadata changes may be lost",
                       pid);
}

void remove_mount_point(const std::string& path, std::string& note) {
    if (path.empty()) return;
    if (!mounted_fs_type(path).empty()) {
        note += fmt::format("{}{} is still a mount point; left in place", note.empty() ? "" : "; ",
                            path);
        return;
    }
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT) {
        note += fmt::format("{}cannot remove {}: {}", note.empty() ? "" : "; ", path,
                            errno_text(errno));
    }
}

void append(std::string& note, const std::string& more) {
    if (more.empty()) return;
    if (!note.empty()) note += "; ";
    note += more;
}

// A path as systemd names its mount unit (systemd-escape --path --suffix=mount).
std::string mount_unit_name(const std::string& path) {
    std::string name;
    std::size_t b = path.find_first_not_of('/'), e = path.find_last_not_of('/');
    if (b == std::string::npos) return "-.mount";
    for (std::size_t i = b; i <= e; ++i) {
        const unsigned char c = static_cast<unsigned char>(path[i]);
        if (c == '/') {
            if (name.empty() || name.back() != '-') name += '-';
        } else if (std::isalnum(c) || c == ':' || c == '_' || (c == '.' && i != b)) {
            name += static_cast<char>(c);
        } else {
            name += fmt::format("\\x{:02x}", c);
        }
    }
    return name + ".mount";
}

// Steps 3 on, with the raw stick mounted at s.stick_dir (by mount(2) or a backend).
tl::expected<PersistentMounted, OpError> mount_home(const PersistentSpec& s, PersistentMounted out);

}  // namespace

std::vector<std::string> pershome_fs_command(const PersistentSpec& s, bool under_systemd) {
    // A logout and a login of one user within a second, before systemd has
    // collected the old scope, must not meet its name (pid: across restarts).
    static std::atomic<unsigned> scopes_started{0};
    std::vector<std::string> argv;
    if (under_systemd) {
        // A scope of its own: outside pershomed's cgroup, so that a restart,
        // a crash or KillMode=mixed of pershomed never takes a home with it.
        argv = {"systemd-run", "--scope", "--quiet", "--collect",
                fmt::format("--unit=pershome-fs-{}-{}-{}-{}", s.user.uid, s.now.time, ::getpid(),
                            ++scopes_started),
                fmt::format("--description=pershome-fs: home of {} on {}", s.user.name, s.device),
                // Stopped before the stick is unmounted at shutdown: its last
                // index write goes to the stick. Ordering only: the mount
                // unit may not be loaded yet, and a pulled stick must not
                // stop the scope.
                fmt::format("--property=After={}", mount_unit_name(s.stick_dir)), "--",
                // Its own journal stream, opened from inside the scope: its
                // lines carry the scope's unit, not pershomed's. Both exec.
                "systemd-cat", "--identifier=pershome-fs"};
    }
    // The folder comes as fd kHandedFd; mountinfo still names it (the stick
    // dir's name is path-escaped: no comma splits this list).
    for (std::string a : {s.pershome_fs, std::string("-f"), std::string("-o"),
                          fmt::format("uid={},gid={},allow_other,flush={},fsname={}", s.user.uid,
                                      s.user.gid, s.flush_seconds, s.stick_dir + "/" + kHomeFolder),
                          fmt::format("/proc/self/fd/{}", kHandedFd), s.user.home})
        argv.push_back(std::move(a));
    return argv;
}

tl::expected<PersistentMounted, OpError> open_persistent(const PersistentSpec& s) {
    PersistentMounted out;
    if (::mkdir(s.stick_dir.c_str(), 0700) != 0 && errno != EEXIST)
        return tl::unexpected(
            failed(fmt::format("cannot make {}: {}", s.stick_dir, errno_text(errno))));

    if (!s.backend_argv.empty()) {
        if (auto m = mount_backend(s.backend_argv, s.stick_dir, s.mount_timeout); !m) {
            ::rmdir(s.stick_dir.c_str());
            return tl::unexpected(failed(m.error()));
        }
        return mount_home(s, out);
    }
    // 1. A stick pulled last time carries the dirty bit: repair before
    // writing, or vfat hands clusters a pull left half-linked to new files.
    auto dirty = stick_dirty(s.devnode, s.fs_type);
    if (!dirty) return tl::unexpected(failed(dirty.error()));
    if (*dirty) {
        log::notice("{}: stick {} was not unmounted cleanly; repairing it", s.user.name, s.device);
        if (auto r = repair_stick(s.devnode, s.fs_type, s.fsck_timeout); !r) {
            ::rmdir(s.stick_dir.c_str());
            // A clause: the login's sentence already names the stick.
            return tl::unexpected(failed(fmt::format(
                "it was not removed safely last time and could not be repaired ({}), so it is "
                "not used.",
                r.error())));
        }
        out.repaired = true;
    }

    // 2. The raw stick, where only root reaches it.
    if (auto m = mount_stick(s.devnode, s.fs_type, s.stick_dir, false); !m) {
        ::rmdir(s.stick_dir.c_str());
        return tl::unexpected(failed(m.error()));
    }
    return mount_home(s, out);
}

namespace {

tl::expected<PersistentMounted, OpError> mount_home(const PersistentSpec& s,
                                                    PersistentMounted out) {
    auto undo_stick = [&](std::string why) {
        std::string note = unmount_stick(s.stick_dir, 2s);
        ::rmdir(s.stick_dir.c_str());
        if (!note.empty()) why += "; " + note;
        return tl::unexpected(failed(std::move(why)));
    };
    StickLook look = look_at_stick(s.stick_dir);
    if (!look.has_home)
        return undo_stick(fmt::format("the stick {} has no pershome folder{}", s.device,
                                      look.note.empty() ? "" : " (" + look.note + ")"));
    out.previous = look.last_use;

    // 3. pershome-fs on the home.
    if (auto cleared = clear_leftover(s); !cleared) return undo_stick(cleared.error());
    auto made = prepare_mount_point(s.user.home);
    if (!made) return undo_stick(made.error());
    out.made_mount_point = *made;
    // What was checked is what pershome-fs gets: the folder's fd, not its path.
    auto folder = open_home_folder(s.stick_dir);
    if (!folder) {
        if (out.made_mount_point) ::rmdir(s.user.home.c_str());
        return undo_stick(folder.error());
    }
    if (std::string note = record_use(*folder, s.stick_dir, s.now); !note.empty())
        log::warning("{}: {}", s.user.name, note);
    auto pid = spawn_detached(pershome_fs_command(s, ::access("/run/systemd/system", F_OK) == 0),
                              folder->get());
    if (!pid) {
        if (out.made_mount_point) ::rmdir(s.user.home.c_str());
        return undo_stick("cannot start pershome-fs: " + pid.error());
    }
    if (auto live = wait_mounted(s.user.home, *pid, s.mount_timeout); !live) {
        if (out.made_mount_point) ::rmdir(s.user.home.c_str());
        return undo_stick(live.error());
    }
    out.fs_pid = *pid;
    return out;
}

}  // namespace

std::string close_persistent(const PersistentTeardown& t) {
    std::string note;
    // 1. and 2. pershome-fs unmounted; only a busy home costs the scan of
    // /proc for the user's leftover processes (systemd --user, gpg-agent).
    if (mounted_fs_type(t.home) == kFsType && ::umount2(t.home.c_str(), 0) != 0 && errno == EBUSY) {
        if (std::size_t n = end_user_holders(t.home, t.uid, t.grace); n > 0)
            log::info("{}: asked {} leftover process(es) to end before unmounting {}", t.user, n,
                      t.home);
        if (::umount2(t.home.c_str(), 0) != 0 && errno == EBUSY) {
            append(note, fmt::format("home {} was still busy (held by {}); detached lazily", t.home,
                                     describe_holders(t.home)));
            ::umount2(t.home.c_str(), MNT_DETACH);
            // Lazily detached, it would wait for the last holder: end it now.
            if (t.fs_pid > 0) ::kill(t.fs_pid, SIGTERM);
        }
    }
    append(note, stop_fs(t.fs_pid, 60s));
    // 3. The stick: synced, unmounted.
    if (!t.stick_dir.empty()) {
        append(note, unmount_stick(t.stick_dir, t.grace));
        remove_mount_point(t.stick_dir, note);
    }
    // 4. Only mount points made here.
    if (t.made_mount_point) remove_mount_point(t.home, note);
    return note;
}

std::string detach_pulled(const PersistentTeardown& t) {
    std::string note;
    if (mounted_fs_type(t.home) == kFsType) ::umount2(t.home.c_str(), MNT_DETACH);
    if (t.fs_pid > 0) ::kill(t.fs_pid, SIGTERM);
    append(note, stop_fs(t.fs_pid, 10s));
    if (!t.stick_dir.empty()) ::umount2(t.stick_dir.c_str(), MNT_DETACH);
    return note;
}

std::string undo_pulled_open(const PersistentTeardown& t) {
    std::string note = detach_pulled(t);
    remove_mount_point(t.stick_dir, note);
    if (t.made_mount_point) remove_mount_point(t.home, note);
    return note;
}

}  // namespace pershome
