// create, mknod, mkdir and symlink: everything that adds a name.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "fs/name_codec.hpp"
#include "fs/ops.hpp"

namespace pershome::fs::ops {

namespace {

Entry new_entry(const char* name, NodeType type, mode_t mode) {
    Entry e;
    e.name = name;
    e.type = type;
    e.mode = mode & 0777;
    e.atime = e.mtime = e.ctime = now_ts();
    return e;
}

// Common front: read-only, name checks, parent loaded, name free. `l`
// holds the parent's directory lock and alloc_ shared (new names may
// allocate clusters: see BackingAllocLock).
DirState* prepare(fuse_req_t req, Fs& fs, OpLocks& l, fuse_ino_t parent, const char* name) {
    if (fs.opt().read_only) return (void)fuse_reply_err(req, EROFS), nullptr;
    if (std::strlen(name) > 255) return (void)fuse_reply_err(req, ENAMETOOLONG), nullptr;
    if (!is_valid_posix_name(name)) return (void)fuse_reply_err(req, EINVAL), nullptr;
    int err = 0;
    DirState* d = fs.dir_of(l, parent, &err);
    if (!d) return (void)fuse_reply_err(req, err), nullptr;
    if (d->find(name)) return (void)fuse_reply_err(req, EEXIST), nullptr;
    return d;
}

int make_placeholder(int dirfd, const std::string& real) {
    UniqueFd fd(
        openat(dirfd, real.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    return fd ? 0 : errno;
}

void reply_new(fuse_req_t req, Fs& fs, fuse_ino_t parent, DirState* d, const char* name) {
    fs.touch_dir(parent);
    fuse_entry_param ep;
    if (int err = fs.fill_entry(parent, *d->find(name), &ep)) return (void)fuse_reply_err(req, err);
    fuse_reply_entry(req, &ep);
}

// Special files exist on the backing only as empty placeholders: the index
// entry is what makes them what they are, so it is written at once (before
// the placeholder, so a crash never shows one as an empty regular file).
void make_special(fuse_req_t req, fuse_ino_t parent, const char* name, Entry e) {
    auto& fs = fs_of(req);
    OpLocks l(fs, {parent}, false, true);
    DirState* d = prepare(req, fs, l, parent, name);
    if (!d) return;
    if (int err = fs.place_new(l, *d, std::move(e), make_placeholder, true))
        return (void)fuse_reply_err(req, err);
    reply_new(req, fs, parent, d, name);
}

}  // namespace

void create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
    auto& fs = fs_of(req);
    OpLocks l(fs, {parent}, false, true);
    DirState* d = prepare(req, fs, l, parent, name);
    if (!d) return;
    const int flags = (fi->flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_NOFOLLOW)) |
                      O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    UniqueFd fd;
    auto make = [&](int dirfd, const std::string& real) {
        fd.reset(openat(dirfd, real.c_str(), flags, 0600));
        return fd ? 0 : errno;
    };
    // A plain file needs no index write to be safe: after a crash it
    // reappears with default attributes (under its generated backing name if
    // FAT cannot hold its own, as POSIX allows for an entry never fsynced)
    // -- unless its mode grants less than those defaults (ssh-keygen's 0600
    // key must never come back 0644): then the entry is written first.
    const bool sync = fs.keeps_mode_only_in_index(NodeType::File, mode);
    if (int err = fs.place_new(l, *d, new_entry(name, NodeType::File, mode), make, sync))
        return (void)fuse_reply_err(req, err);
    fs.touch_dir(parent);
    fuse_entry_param ep;
    if (int err = fs.fill_entry(parent, *d->find(name), &ep)) return (void)fuse_reply_err(req, err);
    fs.node(ep.ino)->open_fds.push_back(fd.get());
    fi->fh = static_cast<uint64_t>(fd.get());
    fs.write_behind().opened(fd.get(), ep.ino);
    fi->noflush = 1;  // nothing to do at close(): saves a round trip per file
    // A reply that fails (the create was interrupted) gets no RELEASE, and
    // the kernel never took the lookup: both are undone here.
    if (fuse_reply_create(req, &ep, fi) == 0) {
        (void)fd.release();
        return;
    }
    (void)fs.write_behind().closed(fd.get());  // nothing was written through it yet
    if (Node* n = fs.node(ep.ino)) std::erase(n->open_fds, fd.get());
    fs.forget(ep.ino, 1);
}

void mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
    auto& fs = fs_of(req);
    OpLocks l(fs, {parent}, false, true);
    DirState* d = prepare(req, fs, l, parent, name);
    if (!d) return;
    auto make = [&l](int dirfd, const std::string& real) {
        // vfat keeps a new directory's own cluster ("." and "..") as dirty
        // buffers of the PARENT, while the parent's entry for it reaches the
        // stick with any write of that entry's block (our next index write
        // there). A pull in between left an entry pointing at garbage and the
        // cluster free for reuse: a damaged FAT (tests/uml RandomPulls).
        // Syncing the parent now writes both together, with no allocation
        // or index write in between (exclusive_io), and without mu_.
        return l.exclusive_io([&] {
            if (mkdirat(dirfd, real.c_str(), 0700) != 0) return errno;
            return fsync_backing(dirfd, "");
        });
    };
    // As for create: a 0700 directory must not come back 0755.
    const bool sync = fs.keeps_mode_only_in_index(NodeType::Dir, mode);
    if (int err = fs.place_new(l, *d, new_entry(name, NodeType::Dir, mode), make, sync))
        return (void)fuse_reply_err(req, err);
    reply_new(req, fs, parent, d, name);
}

void mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
    (void)rdev;
    if (S_ISFIFO(mode))
        return make_special(req, parent, name, new_entry(name, NodeType::Fifo, mode));
    if (S_ISSOCK(mode))
        return make_special(req, parent, name, new_entry(name, NodeType::Socket, mode));
    if (S_ISREG(mode)) {
        auto& fs = fs_of(req);
        OpLocks l(fs, {parent}, false, true);
        DirState* d = prepare(req, fs, l, parent, name);
        if (!d) return;
        const bool sync = fs.keeps_mode_only_in_index(NodeType::File, mode);
        if (int err =
                fs.place_new(l, *d, new_entry(name, NodeType::File, mode), make_placeholder, sync))
            return (void)fuse_reply_err(req, err);
        return reply_new(req, fs, parent, d, name);
    }
    fuse_reply_err(req, EPERM);  // device nodes: never on a stick anyone can bring
}

void symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
    if (std::strlen(link) > kMaxTargetLen) return (void)fuse_reply_err(req, ENAMETOOLONG);
    Entry e = new_entry(name, NodeType::Symlink, 0777);
    e.target = link;
    make_special(req, parent, name, std::move(e));
}

}  // namespace pershome::fs::ops
