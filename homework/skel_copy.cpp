#include "homework/skel_copy.hpp"
#include "homework/entry_fd.hpp"
#include "homework/errno_text.hpp"
#include "homework/step_hook.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/unique_fd.hpp"

namespace pershome::homework {
namespace {

constexpr size_t kDentsBufferSize = 64 * 1024;
constexpr size_t kMaxNotes = 100;
// Modes we carry over: permissions and sticky, never setuid/setgid.
constexpr mode_t kKeptModeBits = 01777;

struct Frame {
    UniqueFd src;
    UniqueFd dst;
    dev_t dst_dev = 0;
    std::string path;  // relative to the skel root, "" for the root
    struct timespec times[2]{};
    std::vector<std::string> subdirs;
    bool listed = false;
};

std::string join(const std::string& dir, const char* name) {
    return dir.empty() ? std::string(name) : dir + "/" + name;
}

std::string errmsg(const std::string& path, const char* what, int err) {
    return fmt::format("skel {}: {}: {}", path.empty() ? "." : path, what, errno_text(err));
}

// Copies all of `in` to `out`. copy_file_range stays in the kernel (and can reflink);
// sendfile, then read/write, cover filesystems or kernels where it is not supported or where
// it reports 0 bytes for a file that has data (some pseudo and network filesystems do).
bool copy_data(int in, int out, off_t size, uint64_t& bytes) {
    enum class Way { kCopyFileRange, kSendfile, kReadWrite };
    Way way = Way::kCopyFileRange;
    std::vector<char> buf;
    off_t done = 0;
    while (done < size) {
        const size_t want = static_cast<size_t>(size - done);
        ssize_t n = -1;
        switch (way) {
            case Way::kCopyFileRange:
                n = ::copy_file_range(in, nullptr, out, nullptr, want, 0);
                break;
            case Way::kSendfile:
                n = ::sendfile(out, in, nullptr, want);
                break;
            case Way::kReadWrite:
                if (buf.empty()) buf.resize(128 * 1024);
                n = ::read(in, buf.data(), std::min(buf.size(), want));
                for (ssize_t off = 0; n > 0 && off < n;) {
                    const ssize_t w = ::write(out, buf.data() + off, static_cast<size_t>(n - off));
                    if (w < 0 && errno != EINTR) return false;
                    if (w > 0) off += w;
                }
                break;
        }
        if (n < 0 && errno == EINTR) continue;
        if (way != Way::kReadWrite &&
            (n == 0 || (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
                                  errno == EOPNOTSUPP || errno == EBADF)))) {
            way = way == Way::kCopyFileRange ? Way::kSendfile : Way::kReadWrite;
            continue;
        }
        if (n < 0) return false;
        if (n == 0) break;  // the file shrank while we copied: keep what there is
        done += n;
        bytes += static_cast<uint64_t>(n);
    }
    return true;
}

class Copier {
  public:
    Copier(uid_t uid, gid_t gid) : uid_(uid), gid_(gid), buffer_(kDentsBufferSize) {}
    tl::expected<CopyStats, std::string> run(int skel_dirfd, int dest_dirfd);

  private:
    tl::expected<void, std::string> list(Frame& f);
    tl::expected<void, std::string> copy_file(Frame& f, const char* name);
    tl::expected<void, std::string> copy_symlink(Frame& f, const char* name);
    tl::expected<void, std::string> enter_dir(const std::string& name);
    tl::expected<void, std::string> leave_dir(Frame& f);
    void note(const std::string& path, const char* what);

    uid_t uid_;
    gid_t gid_;
    std::vector<char> buffer_;
    std::vector<Frame> stack_;
    CopyStats stats_;
};

void Copier::note(const std::string& path, const char* what) {
    ++stats_.skipped;
    if (stats_.notes.size() < kMaxNotes) stats_.notes.push_back(fmt::format("{}: {}", path, what));
}

tl::expected<void, std::string> Copier::copy_file(Frame& f, const char* name) {
    const std::string path = join(f.path, name);
    // O_NONBLOCK: if the entry became a fifo since getdents, open must not hang.
    UniqueFd in(::openat(f.src.get(), name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (!in) return tl::unexpected(errmsg(path, "cannot open", errno));
    struct stat st {};
    if (::fstat(in.get(), &st) != 0) return tl::unexpected(errmsg(path, "cannot stat", errno));
    if (!S_ISREG(st.st_mode)) {
        note(path, "no longer a regular file, skipped");
        return {};
    }
    UniqueFd out(
        ::openat(f.dst.get(), name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out) return tl::unexpected(errmsg(path, "cannot create", errno));
    run_step_hook(Step::kFileCreated, f.dst.get(), name);
    if (st.st_size > 0 && !copy_data(in.get(), out.get(), st.st_size, stats_.bytes)) {
        return tl::unexpected(errmsg(path, "cannot copy data", errno));
    }
    // chown before chmod: chown clears setuid/setgid, and we want the final mode exactly.
    if (::fchown(out.get(), uid_, gid_) != 0) {
        return tl::unexpected(errmsg(path, "cannot chown", errno));
    }
    if (::fchmod(out.get(), st.st_mode & kKeptModeBits) != 0) {
        return tl::unexpected(errmsg(path, "cannot chmod", errno));
    }
    const struct timespec times[2] = {st.st_atim, st.st_mtim};
    ::futimens(out.get(), times);  // times are a courtesy; a failure is not worth an error
    ++stats_.files;
    return {};
}

tl::expected<void, std::string> Copier::copy_symlink(Frame& f, const char* name) {
    const std::string path = join(f.path, name);
    std::array<char, PATH_MAX + 1> target;
    const ssize_t n = ::readlinkat(f.src.get(), name, target.data(), target.size());
    if (n < 0) {
        if (errno == EINVAL) {  // no longer a symlink
            note(path, "changed type while copying, skipped");
            return {};
        }
        return tl::unexpected(errmsg(path, "cannot read symlink", errno));
    }
    if (static_cast<size_t>(n) >= target.size()) {
        return tl::unexpected(errmsg(path, "cannot read symlink", ENAMETOOLONG));
    }
    target[static_cast<size_t>(n)] = '\0';
    if (::symlinkat(target.data(), f.dst.get(), name) != 0) {
        return tl::unexpected(errmsg(path, "cannot create symlink", errno));
    }
    run_step_hook(Step::kSymlinkCreated, f.dst.get(), name);
    // Owner and times through an fd of the link we made, checked to be it: by name, a swap
    // for a hard link to someone else's file would give that file to the user.
    auto made = open_fresh_entry(f.dst.get(), name, S_IFLNK);
    if (!made) return tl::unexpected(fmt::format("skel {}: new symlink {}", path, made.error()));
    const UniqueFd link = std::move(*made);
    std::array<char, PATH_MAX + 1> again;
    const ssize_t m = ::readlinkat(link.get(), "", again.data(), again.size());
    if (m != n || std::memcmp(again.data(), target.data(), static_cast<size_t>(n)) != 0) {
        return tl::unexpected(
            fmt::format("skel {}: new symlink was replaced right after creation; refusing", path));
    }
    if (::fchownat(link.get(), "", uid_, gid_, AT_EMPTY_PATH) != 0) {
        return tl::unexpected(errmsg(path, "cannot chown symlink", errno));
    }
    struct stat st {};
    if (::fstatat(f.src.get(), name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        const struct timespec times[2] = {st.st_atim, st.st_mtim};
        // Times are a courtesy: a kernel before 5.8 refuses AT_EMPTY_PATH here (EINVAL), and
        // then the link keeps the time of the copy rather than be touched by name.
        (void)::utimensat(link.get(), "", times, AT_EMPTY_PATH);
    }
    ++stats_.symlinks;
    return {};
}

tl::expected<void, std::string> Copier::enter_dir(const std::string& name) {
    Frame& parent = stack_.back();
    const std::string path = join(parent.path, name.c_str());
    if (stack_.size() >= kMaxSkelDepth) {
        return tl::unexpected(
            fmt::format("skel {}: deeper than {} levels; refusing", path, kMaxSkelDepth));
    }
    Frame child;
    child.path = path;
    child.src.reset(
        ::openat(parent.src.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!child.src) {
        if (errno == ENOTDIR || errno == ELOOP) {
            note(path, "changed type while copying, skipped");
            return {};
        }
        return tl::unexpected(errmsg(path, "cannot open directory", errno));
    }
    struct stat st {};
    if (::fstat(child.src.get(), &st) != 0) {
        return tl::unexpected(errmsg(path, "cannot stat", errno));
    }
    if (::mkdirat(parent.dst.get(), name.c_str(), 0700) != 0) {
        return tl::unexpected(errmsg(path, "cannot create directory", errno));
    }
    run_step_hook(Step::kDirCreated, parent.dst.get(), name.c_str());
    child.dst.reset(
        ::openat(parent.dst.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!child.dst) return tl::unexpected(errmsg(path, "cannot open new directory", errno));
    // The directory we just made could have been swapped by a racing user; make sure the fd
    // is the one we made before handing it over.
    struct stat dst_st {};
    if (::fstat(child.dst.get(), &dst_st) != 0 ||
        !is_fresh_entry(dst_st, parent.dst_dev, S_IFDIR)) {
        return tl::unexpected(fmt::format("skel {}: new directory was replaced; refusing", path));
    }
    child.dst_dev = dst_st.st_dev;
    if (::fchown(child.dst.get(), uid_, gid_) != 0) {
        return tl::unexpected(errmsg(path, "cannot chown directory", errno));
    }
    if (::fchmod(child.dst.get(), st.st_mode & kKeptModeBits) != 0) {
        return tl::unexpected(errmsg(path, "cannot chmod directory", errno));
    }
    child.times[0] = st.st_atim;
    child.times[1] = st.st_mtim;
    ++stats_.dirs;
    stack_.push_back(std::move(child));
    return {};
}

tl::expected<void, std::string> Copier::list(Frame& f) {
    f.listed = true;
    for (;;) {
        const ssize_t n = ::getdents64(f.src.get(), buffer_.data(), buffer_.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return tl::unexpected(errmsg(f.path, "cannot read directory", errno));
        }
        if (n == 0) return {};
        for (ssize_t pos = 0; pos < n;) {
            const auto* d = reinterpret_cast<const struct dirent64*>(buffer_.data() + pos);
            pos += d->d_reclen;
            const char* nm = d->d_name;
            if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0'))) continue;
            unsigned char type = d->d_type;
            if (type == DT_UNKNOWN) {
                struct stat st {};
                if (::fstatat(f.src.get(), nm, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                    return tl::unexpected(errmsg(join(f.path, nm), "cannot stat", errno));
                }
                type = IFTODT(st.st_mode);
            }
            tl::expected<void, std::string> r;
            switch (type) {
                case DT_REG:
                    r = copy_file(f, nm);
                    break;
                case DT_LNK:
                    r = copy_symlink(f, nm);
                    break;
                case DT_DIR:
                    f.subdirs.emplace_back(nm);
                    break;
                case DT_CHR:
                    note(join(f.path, nm), "character device skipped");
                    break;
                case DT_BLK:
                    note(join(f.path, nm), "block device skipped");
                    break;
                case DT_FIFO:
                    note(join(f.path, nm), "fifo skipped");
                    break;
                case DT_SOCK:
                    note(join(f.path, nm), "socket skipped");
                    break;
                default:
                    note(join(f.path, nm), "unknown file type skipped");
                    break;
            }
            if (!r) return r;
        }
    }
}

tl::expected<void, std::string> Copier::leave_dir(Frame& f) {
    // Set last: creating entries inside moved the mtime.
    if (!f.path.empty()) (void)::futimens(f.dst.get(), f.times);  // a courtesy, as for files
    return {};
}

tl::expected<CopyStats, std::string> Copier::run(int skel_dirfd, int dest_dirfd) {
    Frame root;
    root.src.reset(::openat(skel_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root.src) return tl::unexpected(errmsg("", "cannot open skel directory", errno));
    root.dst.reset(::openat(dest_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root.dst) return tl::unexpected(errmsg("", "cannot open destination", errno));
    struct stat dst_st {};
    if (::fstat(root.dst.get(), &dst_st) != 0) {
        return tl::unexpected(errmsg("", "cannot stat destination", errno));
    }
    root.dst_dev = dst_st.st_dev;
    stack_.push_back(std::move(root));
    while (!stack_.empty()) {
        Frame& f = stack_.back();
        if (!f.listed) {
            if (auto r = list(f); !r) return tl::unexpected(r.error());
            continue;
        }
        if (!f.subdirs.empty()) {
            const std::string next = std::move(f.subdirs.back());
            f.subdirs.pop_back();
            if (auto r = enter_dir(next); !r) return tl::unexpected(r.error());
            continue;
        }
        leave_dir(f);
        stack_.pop_back();
    }
    return std::move(stats_);
}

}  // namespace

tl::expected<CopyStats, std::string> copy_skel(int skel_dirfd, int dest_dirfd, uid_t uid,
                                               gid_t gid) {
    Copier copier(uid, gid);
    return copier.run(skel_dirfd, dest_dirfd);
}

}  // namespace pershome::homework
