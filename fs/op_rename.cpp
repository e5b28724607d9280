// rename, with RENAME_NOREPLACE and (within one directory) RENAME_EXCHANGE.
//
// A rename acknowledged to the caller survives a crash of this process:
// - to a name FAT can hold (or over a replaced target, reusing its backing
//   name): the backing rename carries the name, the index follows at once;
// - to a name needing a generated backing name: the new entry is written to
//   the index (beside the old one) before the backing rename, so the file
//   never shows under a name nobody gave it; the old entry goes afterwards;
// - when the backing name stays (already generated, or a hard link): the
//   index write is the rename.
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cstring>

#include "fs/name_codec.hpp"
#include "fs/ops.hpp"

namespace pershome::fs::ops {

namespace {

int backing_rename_noreplace(int olddir, const std::string& oldname, int newdir,
                             const std::string& newname) {
    if (renameat2(olddir, oldname.c_str(), newdir, newname.c_str(), RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL) return errno;
    // A backing without RENAME_NOREPLACE: check, then rename (we are its
    // only writer while mounted).
    struct stat st {};
    if (fstatat(newdir, newname.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return EEXIST;
    return renameat(olddir, oldname.c_str(), newdir, newname.c_str()) == 0 ? 0 : errno;
}

int exchange(Fs& fs, fuse_ino_t parent, DirState* d, const std::string& a, const std::string& b) {
    // Within one directory an exchange is an index change only: the two
    // entries swap names and keep their backing files. One index write
    // makes it atomic even across a pulled stick.
    Entry ea = *d->find(a);
    Entry eb = *d->find(b);
    ea.name = b;
    eb.name = a;
    ea.ctime = eb.ctime = now_ts();
    d->remove(a);
    d->remove(b);
    d->add(ea);
    d->add(eb);
    fs.mark_dirty(d);
    if (int err = fs.flush(d)) return err;
    fs.swap_keys(parent, a, b);
    fs.touch_dir(parent);
    return 0;
}

}  // namespace

void rename(fuse_req_t req, fuse_ino_t parent, const char* name_c, fuse_ino_t newparent,
            const char* newname_c, unsigned int flags) {
    auto& fs = fs_of(req);
    if (fs.opt().read_only) return (void)fuse_reply_err(req, EROFS);
    if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE | RENAME_EXCHANGE))
        return (void)fuse_reply_err(req, EINVAL);
    const std::string name = name_c, newname = newname_c;
    if (newname.size() > 255) return (void)fuse_reply_err(req, ENAMETOOLONG);
    if (!is_valid_posix_name(newname)) return (void)fuse_reply_err(req, EINVAL);
    std::shared_lock alloc(fs.alloc_lock());  // may allocate clusters: see BackingAllocLock
    std::lock_guard lk(fs.mutex());
    int err = 0;
    DirState* sd = fs.dir_of(parent, &err);
    DirState* dd = sd ? fs.dir_of(newparent, &err) : nullptr;
    if (!sd || !dd) return (void)fuse_reply_err(req, err);
    Entry* src = sd->find(name);
    if (!src) return (void)fuse_reply_err(req, ENOENT);
    Entry* dst = dd->find(newname);

    if (flags & RENAME_EXCHANGE) {
        if (!dst) return (void)fuse_reply_err(req, ENOENT);
        if (sd != dd) return (void)fuse_reply_err(req, EINVAL);
        return (void)fuse_reply_err(req, exchange(fs, parent, sd, name, newname));
    }
    if (dst && (flags & RENAME_NOREPLACE)) return (void)fuse_reply_err(req, EEXIST);
    if (sd == dd && name == newname) return (void)fuse_reply_err(req, 0);
    if (dst && src->linked() && dst->link_id == src->link_id) {
        // Two names of one inode: POSIX says do nothing.
        return (void)fuse_reply_err(req, 0);
    }
    const bool src_dir = src->type == NodeType::Dir;
    DirState* dst_dir_state = nullptr;
    if (dst) {
        const bool dst_dir = dst->type == NodeType::Dir;
        if (src_dir && !dst_dir) return (void)fuse_reply_err(req, ENOTDIR);
        if (!src_dir && dst_dir) return (void)fuse_reply_err(req, EISDIR);
        if (dst_dir) {
            dst_dir_state = fs.dir_of(fs.node_for(newparent, *dst), &err);
            if (!dst_dir_state) return (void)fuse_reply_err(req, err);
            if (!dst_dir_state->entries.empty()) return (void)fuse_reply_err(req, ENOTEMPTY);
        }
    }
    const Timestamp now = now_ts();
    Entry moved = *src;
    moved.name = newname;
    moved.ctime = now;

    if (src->linked()) {
        // Only names move; the inode stays in the pool.
        if (dst && (err = fs.remove_name(newparent, *dd, newname)))
            return (void)fuse_reply_err(req, err);
        moved.real.clear();
        sd->remove(name);
        dd->add(moved);
        fs.mark_dirty(sd);
        fs.mark_dirty(dd);
        fs.relink_hint(moved.link_id, newparent, newname);
        fs.touch_dir(parent);
        fs.touch_dir(newparent);
        fs.flush(dd);
        fs.flush(sd);
        return (void)fuse_reply_err(req, 0);
    }

    const std::string old_real = src->real;
    std::string target;
    bool done = false;
    if (dst && !dst->linked()) {
        // Replace: reuse the target's backing name so the backing rename
        // replaces it atomically.
        target = dst->real;
        // The replaced directory's writer lock (order: mutex, then writer)
        // keeps a lazy write of it in flight from recreating its index
        // between the unlink and the rename, or writing after it.
        std::unique_lock<std::mutex> wl;
        if (dst_dir_state) {
            wl = std::unique_lock(dst_dir_state->writer->mu);
            (void)unlinkat(dst_dir_state->fd.get(), std::string(kIndexFileName).c_str(), 0);
        }
        if (renameat(sd->fd.get(), old_real.c_str(), dd->fd.get(), target.c_str()) != 0)
            return (void)fuse_reply_err(req, errno);
        if (dst_dir_state) dst_dir_state->writer->gone = true;
        wl = {};
        const Entry copy = *dst;
        dd->remove(newname);
        fs.detach(newparent, newname, copy);
        done = true;
    } else if (dst) {
        if ((err = fs.remove_name(newparent, *dd, newname))) return (void)fuse_reply_err(req, err);
    }
    if (!done && fs.stored_as_itself(newname) && !dd->claimed.count(newname)) {
        err = backing_rename_noreplace(sd->fd.get(), old_real, dd->fd.get(), newname);
        if (err == 0) {
            target = newname;
            done = true;
        } else if (!backing_refused_name(err)) {
            return (void)fuse_reply_err(req, err);
        }
    }
    if (!done && sd == dd && old_real != name) {
        // Already under a generated name: keep it, only the index changes.
        target = old_real;
        done = true;
    }
    if (!done) {
        for (std::uint32_t attempt = 0; attempt < 64 && !done; ++attempt) {
            std::string g = fs.generated(newname, attempt);
            struct stat st {};
            if (dd->claimed.count(g) ||
                fstatat(dd->fd.get(), g.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
                continue;
            Entry pending = moved;
            pending.real = g;
            dd->add(pending);
            fs.mark_dirty(dd);
            if ((err = fs.flush(dd))) {
                dd->remove(newname);
                return (void)fuse_reply_err(req, err);
            }
            err = backing_rename_noreplace(sd->fd.get(), old_real, dd->fd.get(), g);
            if (err == 0) {
                target = g;
                done = true;
                break;
            }
            dd->remove(newname);
            fs.mark_dirty(dd);
            if (err != EEXIST) return (void)fuse_reply_err(req, err);
        }
        if (!done) return (void)fuse_reply_err(req, EEXIST);
    }
    if (target != old_real || sd != dd) fs.note_renamed(dd, target);
    moved.real = target;
    sd->remove(name);
    dd->add(moved);
    fs.mark_dirty(sd);
    fs.mark_dirty(dd);
    fs.rekey(parent, name, newparent, newname);
    fs.touch_dir(parent);
    fs.touch_dir(newparent);
    fs.flush(dd);
    fs.flush(sd);
    fuse_reply_err(req, 0);
}

}  // namespace pershome::fs::ops
