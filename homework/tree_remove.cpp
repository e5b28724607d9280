// Why the walk is safe against a user who still has processes running and renames things:
// - Every name is resolved one component at a time, relative to a directory fd we hold, with
//   O_NOFOLLOW / AT_SYMLINK_NOFOLLOW; unlinkat never follows. A symlink swapped in at any
//   moment is unlinked as a link or makes the open fail (ELOOP/ENOTDIR), never followed.
// - A directory we hold an fd on stays the same directory whatever it is renamed to, so
//   deleting its entries deletes only what is inside it (and the user could delete that too).
// - To bound open fds on deep trees, fds of ancestors beyond `max_open_dirs` are closed and
//   re-opened on the way back up with openat(child, ".."). The result is accepted only if its
//   (st_dev, st_ino) is the directory we left; if a user moved the subtree elsewhere, ".." is
//   some other directory, and we stop with an error instead of deleting anywhere else.
// - Before entering a directory we compare its mount (stx_mnt_id, st_dev, STATX_ATTR_MOUNT_ROOT)
//   with the top's; a mount point is never entered, so a stick or bind mount keeps its content.
// - Modes change only through fds: a directory root may not read is opened O_PATH, checked
//   (a directory, of this tree, not a mount) and chmodded through that fd, then listed through
//   it. By name, a user who swapped it for a hard link to root's file would get that chmodded.
#include "homework/tree_remove.hpp"
#include "homework/entry_fd.hpp"
#include "homework/errno_text.hpp"
#include "homework/step_hook.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/unique_fd.hpp"

namespace pershome::homework {
namespace {

constexpr size_t kDentsBufferSize = 256 * 1024;
constexpr size_t kMaxFailuresKept = 100;
constexpr int kMaxListPasses = 3;  // entries a lingering process adds while we work
constexpr unsigned kStatxMask = STATX_TYPE | STATX_MODE | STATX_UID | STATX_INO | STATX_MNT_ID;

struct Identity {
    dev_t dev = 0;
    ino_t ino = 0;
    bool operator==(const Identity&) const = default;
};

struct Where {
    Identity id;
    uint64_t mnt_id = 0;
    bool has_mnt_id = false;
    bool mount_root = false;
    mode_t mode = 0;
    uid_t uid = 0;
};

int stat_where(int dirfd, const char* name, int flags, Where& out) {
    struct statx tx {};
    if (::statx(dirfd, name, flags, kStatxMask, &tx) != 0) return -1;
    out.id = {makedev(tx.stx_dev_major, tx.stx_dev_minor), static_cast<ino_t>(tx.stx_ino)};
    out.has_mnt_id = (tx.stx_mask & STATX_MNT_ID) != 0;
    out.mnt_id = tx.stx_mnt_id;
    out.mount_root = (tx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
                     (tx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
    out.mode = tx.stx_mode;
    out.uid = tx.stx_uid;
    return 0;
}

constexpr int kOpenDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;

// Opens the directory `name` in `dirfd` for listing. When root may not read it (EACCES: a
// daemon confined without CAP_DAC_OVERRIDE) the result is an O_PATH fd, which needs no
// permission on the directory itself, and `*path_only` is set: the caller checks what that fd
// is and then calls unlock. Never chmod by name: the user could have swapped the name for a
// hard link to someone else's file since the open failed.
UniqueFd open_dir(int dirfd, const char* name, bool* path_only) {
    *path_only = false;
    UniqueFd fd(::openat(dirfd, name, kOpenDirFlags));
    if (fd || errno != EACCES) return fd;
    run_step_hook(Step::kOpenDenied, dirfd, name);
    fd.reset(::openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    *path_only = static_cast<bool>(fd);
    return fd;
}

// Makes the directory held by the O_PATH fd `path` readable (mode 0700) and opens it for
// listing through that fd, so the result is the very directory that was checked. Sets errno.
UniqueFd unlock(const UniqueFd& path) {
    if (const int err = chmod_fd(path.get(), 0700); err != 0) {
        errno = err;
        return UniqueFd();
    }
    return UniqueFd(::openat(path.get(), ".", kOpenDirFlags));
}

struct Frame {
    UniqueFd fd;
    Identity id;
    std::string name;                  // its name in the parent frame
    std::vector<std::string> subdirs;  // still to visit
    bool listed = false;
    bool blocked = false;  // something below it stays, so it cannot be removed
    bool chmodded = false;
    int passes = 0;
};

class Remover {
  public:
    Remover(int parent_dirfd, const RemoveOptions& options)
        : parent_dirfd_(parent_dirfd),
          max_open_(options.max_open_dirs < 4 ? 4 : options.max_open_dirs),
          buffer_(kDentsBufferSize) {}

    tl::expected<RemoveStats, std::string> run(std::string_view top_name,
                                               const RemoveOptions& options);

  private:
    tl::expected<UniqueFd, std::string> open_top(const std::string& name,
                                                 const RemoveOptions& options);
    std::string path_of(size_t depth, std::string_view child = {}) const;
    void fail(size_t depth, std::string_view child, std::string_view what, int err);
    void list(size_t depth);
    void unlink_entry(size_t depth, const std::string& name);
    void descend(size_t depth, const std::string& name);
    tl::expected<bool, std::string> finish(size_t depth);
    void bound_open_fds();

    int parent_dirfd_;
    unsigned max_open_;
    std::vector<char> buffer_;
    std::vector<Frame> stack_;
    size_t first_open_ = 1;  // frames [1, first_open_) have their fd closed
    Where top_{};
    RemoveStats stats_;
};

std::string Remover::path_of(size_t depth, std::string_view child) const {
    std::string path;
    for (size_t i = 1; i <= depth && i < stack_.size(); ++i) {
        if (!path.empty()) path += '/';
        path += stack_[i].name;
    }
    if (!child.empty()) {
        if (!path.empty()) path += '/';
        path += child;
    }
    return path.empty() ? "." : path;
}

void Remover::fail(size_t depth, std::string_view child, std::string_view what, int err) {
    stack_[depth].blocked = true;
    if (++stats_.failure_count <= kMaxFailuresKept) {
        stats_.failures.push_back(
            fmt::format("{}: {}: {}", path_of(depth, child), what, errno_text(err)));
    }
}

void Remover::unlink_entry(size_t depth, const std::string& name) {
    Frame& f = stack_[depth];
    for (;;) {
        if (::unlinkat(f.fd.get(), name.c_str(), 0) == 0) {
            ++stats_.files_removed;
            return;
        }
        const int err = errno;
        if (err == ENOENT) return;
        if (err == EISDIR) {  // d_type was DT_UNKNOWN or it changed under us
            f.subdirs.push_back(name);
            return;
        }
        if (err == EBUSY) {  // a file bind-mounted over this one
            f.blocked = true;
            stats_.skipped_mounts.push_back(path_of(depth, name));
            return;
        }
        if ((err == EACCES || err == EPERM) && !f.chmodded) {
            // Without CAP_DAC_OVERRIDE a directory the user made read-only stops us.
            f.chmodded = true;
            if (::fchmod(f.fd.get(), 0700) == 0) continue;
        }
        fail(depth, name, "cannot unlink", err);
        return;
    }
}

void Remover::list(size_t depth) {
    Frame& f = stack_[depth];
    f.listed = true;
    for (;;) {
        const ssize_t n = ::getdents64(stack_[depth].fd.get(), buffer_.data(), buffer_.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            fail(depth, {}, "cannot read directory", errno);
            return;
        }
        if (n == 0) return;
        for (ssize_t pos = 0; pos < n;) {
            const auto* d = reinterpret_cast<const struct dirent64*>(buffer_.data() + pos);
            pos += d->d_reclen;
            const char* nm = d->d_name;
            if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0'))) continue;
            if (d->d_type == DT_DIR) {
                stack_[depth].subdirs.emplace_back(nm);
            } else {
                unlink_entry(depth, nm);  // DT_UNKNOWN: unlink tells us with EISDIR
            }
        }
    }
}

void Remover::descend(size_t depth, const std::string& name) {
    bool path_only = false;
    UniqueFd fd = open_dir(stack_[depth].fd.get(), name.c_str(), &path_only);
    if (!fd) {
        const int err = errno;
        if (err == ENOENT) return;
        if (err == ENOTDIR || err == ELOOP) {  // replaced by a file or symlink meanwhile
            unlink_entry(depth, name);
            return;
        }
        fail(depth, name, "cannot open directory", err);
        return;
    }
    Where w;
    if (stat_where(fd.get(), "", AT_EMPTY_PATH, w) != 0) {
        fail(depth, name, "cannot stat directory", errno);
        return;
    }
    if (w.id.dev != top_.id.dev || (w.has_mnt_id && top_.has_mnt_id && w.mnt_id != top_.mnt_id) ||
        w.mount_root) {
        stack_[depth].blocked = true;
        stats_.skipped_mounts.push_back(path_of(depth, name));
        return;
    }
    // Checked above to be a directory of this tree: only now may its mode change.
    if (path_only && !(fd = unlock(fd))) {
        fail(depth, name, "cannot open directory", errno);
        return;
    }
    Frame child;
    child.fd = std::move(fd);
    child.id = w.id;
    child.name = name;
    stack_.push_back(std::move(child));
    bound_open_fds();
}

void Remover::bound_open_fds() {
    // The top frame keeps its fd; the deepest max_open_-1 frames keep theirs.
    while (stack_.size() - first_open_ + 1 > max_open_ && first_open_ + 1 < stack_.size()) {
        stack_[first_open_].fd.reset();
        ++first_open_;
    }
}

// Removes the frame at `depth` (the deepest) once it is empty. Returns true when the frame
// was popped, false when it must be listed again.
tl::expected<bool, std::string> Remover::finish(size_t depth) {
    Frame& f = stack_[depth];
    int parent_fd = parent_dirfd_;
    if (depth > 0) {
        Frame& p = stack_[depth - 1];
        if (!p.fd) {
            UniqueFd up(::openat(f.fd.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            struct stat st {};
            if (!up || ::fstat(up.get(), &st) != 0) {
                return tl::unexpected(fmt::format("cannot reopen the parent of {}: {}",
                                                  path_of(depth), errno_text(errno)));
            }
            if (Identity{st.st_dev, st.st_ino} != p.id) {
                return tl::unexpected(
                    fmt::format("{} was moved out of its parent during removal; stopping so "
                                "as not to delete outside the tree",
                                path_of(depth)));
            }
            p.fd = std::move(up);
            first_open_ = depth - 1;
        }
        parent_fd = p.fd.get();
    }
    if (f.blocked) {
        if (depth > 0) stack_[depth - 1].blocked = true;
        stack_.pop_back();
        return true;
    }
    // Close our fd first: rmdir of a directory that is still open leaves its dentry alive
    // (unhashed) until the close, and the kernel's dcache walk at every ancestor's rmdir then
    // revisits the whole dead chain, which made deep trees quadratic.
    f.fd.reset();
    bool chmodded_parent = false;
    for (;;) {
        if (::unlinkat(parent_fd, f.name.c_str(), AT_REMOVEDIR) == 0) {
            ++stats_.dirs_removed;
            if (depth == 0) stats_.top_removed = true;
            break;
        }
        const int err = errno;
        if (err == ENOENT) break;
        if ((err == ENOTEMPTY || err == EEXIST) && f.passes + 1 < kMaxListPasses) {
            // Something was added meanwhile: reopen the same directory (checked by identity)
            // and list it again.
            UniqueFd again(::openat(parent_fd, f.name.c_str(),
                                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
            struct stat st {};
            if (again && ::fstat(again.get(), &st) == 0 && Identity{st.st_dev, st.st_ino} == f.id) {
                f.fd = std::move(again);
                ++f.passes;
                f.listed = false;
                return false;
            }
        }
        if (depth > 0 && (err == EACCES || err == EPERM) && !chmodded_parent &&
            !stack_[depth - 1].chmodded) {
            chmodded_parent = true;
            stack_[depth - 1].chmodded = true;
            if (::fchmod(parent_fd, 0700) == 0) continue;
        }
        if (depth == 0) {
            ++stats_.failure_count;
            stats_.failures.push_back(fmt::format(".: cannot remove: {}", errno_text(err)));
        } else if (err == EBUSY) {
            stack_[depth - 1].blocked = true;
            stats_.skipped_mounts.push_back(path_of(depth));
        } else {
            fail(depth - 1, f.name, "cannot remove directory", err);
        }
        break;
    }
    stack_.pop_back();
    return true;
}

// Opens the top for listing after checking it from every side; sets top_.
tl::expected<UniqueFd, std::string> Remover::open_top(const std::string& name,
                                                      const RemoveOptions& options) {
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
        return tl::unexpected(fmt::format("\"{}\" is not a plain directory entry name", name));
    }
    Where before;
    if (stat_where(parent_dirfd_, name.c_str(), AT_SYMLINK_NOFOLLOW, before) != 0) {
        return tl::unexpected(fmt::format("cannot stat {}: {}", name, errno_text(errno)));
    }
    if (S_ISLNK(before.mode)) {
        return tl::unexpected(fmt::format("{} is a symbolic link; refusing to remove it", name));
    }
    if (!S_ISDIR(before.mode)) {
        return tl::unexpected(fmt::format("{} is not a directory; refusing to remove it", name));
    }
    // Checked here first too, so that a home of someone else is refused before the chmod below.
    if (options.expected_uid && before.uid != *options.expected_uid) {
        return tl::unexpected(fmt::format("{} is owned by uid {}, not {}; refusing to remove it",
                                          name, before.uid, *options.expected_uid));
    }
    Where parent;
    if (stat_where(parent_dirfd_, "", AT_EMPTY_PATH, parent) != 0) {
        return tl::unexpected(
            fmt::format("cannot stat the parent of {}: {}", name, errno_text(errno)));
    }

    bool path_only = false;
    UniqueFd fd = open_dir(parent_dirfd_, name.c_str(), &path_only);
    if (!fd) {
        return tl::unexpected(fmt::format("cannot open {}: {}", name, errno_text(errno)));
    }
    if (stat_where(fd.get(), "", AT_EMPTY_PATH, top_) != 0) {
        return tl::unexpected(fmt::format("cannot stat {}: {}", name, errno_text(errno)));
    }
    if (top_.id != before.id) {
        return tl::unexpected(fmt::format("{} was replaced while being checked; refusing", name));
    }
    if (options.expected_uid && top_.uid != *options.expected_uid) {
        return tl::unexpected(fmt::format("{} is owned by uid {}, not {}; refusing to remove it",
                                          name, top_.uid, *options.expected_uid));
    }
    if (top_.id.dev != parent.id.dev ||
        (top_.has_mnt_id && parent.has_mnt_id && top_.mnt_id != parent.mnt_id) || top_.mount_root) {
        return tl::unexpected(
            fmt::format("{} is a mount point; refusing to remove anything in it", name));
    }
    if (path_only && !(fd = unlock(fd))) {
        return tl::unexpected(fmt::format("cannot open {}: {}", name, errno_text(errno)));
    }
    return fd;
}

tl::expected<RemoveStats, std::string> Remover::run(std::string_view top_name,
                                                    const RemoveOptions& options) {
    const std::string name(top_name);
    auto fd = open_top(name, options);
    if (!fd) return tl::unexpected(fd.error());
    Frame root;
    root.fd = std::move(*fd);
    root.id = top_.id;
    root.name = name;
    stack_.push_back(std::move(root));
    while (!stack_.empty()) {
        const size_t depth = stack_.size() - 1;
        Frame& f = stack_.back();
        if (!f.listed) {
            list(depth);
            continue;
        }
        if (!f.subdirs.empty()) {
            std::string next = std::move(f.subdirs.back());
            f.subdirs.pop_back();
            descend(depth, next);
            continue;
        }
        auto done = finish(depth);
        if (!done) return tl::unexpected(done.error());
    }
    return std::move(stats_);
}

}  // namespace

tl::expected<RemoveStats, std::string> remove_tree(int parent_dirfd, std::string_view name,
                                                   const RemoveOptions& options) {
    Remover remover(parent_dirfd, options);
    return remover.run(name, options);
}

}  // namespace pershome::homework
