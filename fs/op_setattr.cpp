#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/ops.hpp"

namespace pershome::fs::ops {

namespace {

Timestamp from(const timespec& t) {
    return {t.tv_sec, static_cast<std::uint32_t>(t.tv_nsec)};
}

}  // namespace

void setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
    auto& fs = fs_of(req);
    if (fs.opt().read_only) return (void)fuse_reply_err(req, EROFS);
    // A new size or time applies after the writes queued before it.
    fs.write_behind().drain(ino);
    // A truncate allocates or frees clusters, a time goes to the backing
    // too: see BackingAllocLock.
    std::shared_lock alloc(fs.alloc_lock());
    std::lock_guard lk(fs.mutex());
    // Writes that passed through before this call are older than what it sets.
    fs.notice_passthrough_writes(ino);
    AttrRef a = fs.attrs(ino);
    if (!a.entry) return (void)fuse_reply_err(req, ENOENT);
    Entry& e = *a.entry;
    // Every file belongs to the mount's owner; no other owner can be stored.
    if ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != fs.opt().uid)
        return (void)fuse_reply_err(req, EPERM);
    if ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != fs.opt().gid)
        return (void)fuse_reply_err(req, EPERM);
    const Timestamp now = now_ts();
    bool changed = false;
    if (to_set & FUSE_SET_ATTR_SIZE) {
        if (e.type != NodeType::File) return (void)fuse_reply_err(req, EINVAL);
        if (static_cast<std::uint64_t>(attr->st_size) > kFatMaxFileSize)
            return (void)fuse_reply_err(req, EFBIG);
        int rc;
        if (fi) {
            rc = ftruncate(static_cast<int>(fi->fh), attr->st_size);
        } else {
            auto loc = fs.locate(ino);
            if (!loc) return (void)fuse_reply_err(req, ENOENT);
            UniqueFd fd(openat(loc->dirfd, loc->name.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
            rc = fd ? ftruncate(fd.get(), attr->st_size) : -1;
        }
        if (rc != 0) return (void)fuse_reply_err(req, errno);
        e.mtime = now;
        changed = true;
    }
    if (to_set & FUSE_SET_ATTR_MODE) {
        e.mode = attr->st_mode & 0777;  // setuid, setgid and sticky are dropped
        changed = true;
    }
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
        e.mtime = now;
        changed = true;
    } else if (to_set & FUSE_SET_ATTR_MTIME) {
        e.mtime = from(attr->st_mtim);
        changed = true;
    }
    bool atime_changed = false;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
        e.atime = now;
        atime_changed = true;
    } else if (to_set & FUSE_SET_ATTR_ATIME) {
        e.atime = from(attr->st_atim);
        atime_changed = true;
    }
    if (to_set & FUSE_SET_ATTR_CTIME) {
        e.ctime = from(attr->st_ctim);
        changed = true;
    } else if (changed || (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
        e.ctime = now;
        changed = true;
    }
    if ((to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) && e.type == NodeType::File) {
        // The backing keeps a coarse copy, so other computers see a sensible
        // date and reconcile does not take it for an edit made elsewhere.
        if (auto loc = fs.locate(ino); loc && !loc->name.empty()) {
            const timespec ts[2] = {{0, UTIME_OMIT},
                                    {e.mtime.sec, static_cast<long>(e.mtime.nsec)}};
            // (A courtesy: the index holds the time that counts.)
            (void)utimensat(loc->dirfd, loc->name.c_str(), ts, AT_SYMLINK_NOFOLLOW);
        }
    }
    if (changed)
        fs.mark_dirty(a.owner);
    else if (atime_changed)
        fs.mark_dirty(a.owner, true);  // never forces a write by itself
    // The truncate and the backing's coarse mtime above are no user's write.
    fs.notice_passthrough_writes(ino, true);
    struct stat st;
    if (int err = fs.stat_node(ino, &st)) return (void)fuse_reply_err(req, err);
    fuse_reply_attr(req, &st, 1.0);
}

}  // namespace pershome::fs::ops
