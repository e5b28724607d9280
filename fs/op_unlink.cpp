// unlink and rmdir. The backing object goes first and the index follows
// lazily: after a crash in between, reconcile drops the orphan entry.
#include <fcntl.h>
#include <unistd.h>

#include "fs/name_codec.hpp"
#include "fs/ops.hpp"

namespace pershome::fs::ops {

namespace {

void remove_dir(fuse_req_t req, Fs& fs, OpLocks& l, fuse_ino_t parent, DirState* d,
                const char* name, fuse_ino_t ino) {
    int err = 0;
    DirState* child = fs.dir_of(l, ino, &err);
    if (!child) return (void)fuse_reply_err(req, err);
    Entry* e = nullptr;
    {
        // Under the child's writer lock, so a lazy write of the child in
        // flight cannot recreate its index between the unlink and the
        // rmdir, nor write after it.
        IndexWriter& w = *child->writer;
        auto wl = l.writer_lock(w);
        // (Loading the child, or waiting for its writer, let go of mu_:
        // d's and the child's entries are ours, but look again.)
        e = d->find(name);
        if (!e) return (void)fuse_reply_err(req, ENOENT);
        if (!child->entries.empty()) return (void)fuse_reply_err(req, ENOTEMPTY);
        // The index of an empty directory holds only its own attributes.
        if (unlinkat(fs.dir_fd(*child), std::string(kIndexFileName).c_str(), 0) == 0)
            w.index_exists = false;
        if (unlinkat(fs.dir_fd(*d), e->real.c_str(), AT_REMOVEDIR) != 0) {
            const int rc = errno;
            fs.mark_dirty(child);
            return (void)fuse_reply_err(req, rc);
        }
        w.gone = true;
    }
    const Entry copy = *e;
    d->remove(name);
    fs.mark_dirty(d);
    fs.detach(parent, name, copy);
    fs.touch_dir(parent);
    fuse_reply_err(req, 0);
}

}  // namespace

void unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
    auto& fs = fs_of(req);
    if (fs.opt().read_only) return (void)fuse_reply_err(req, EROFS);
    // A hard link's name also changes the pool, and the directory of the
    // name its file moves to (when the name holding it goes, or when one
    // name stays): the first pass
    // learns which locks are needed, the next takes them in order.
    fuse_ino_t last = 0;
    for (bool pool = false;;) {
        // Frees clusters: see BackingAllocLock.
        OpLocks l(fs, {parent, last}, pool, true);
        int err = 0;
        DirState* d = fs.dir_of(l, parent, &err);
        if (!d) return (void)fuse_reply_err(req, err);
        const Entry* e = d->find(name);
        if (e && e->linked()) {
            // (The primary's data moves to another name: its directory.)
            fuse_ino_t want = fs.is_primary(parent, *e) ? fs.heir_dir(e->link_id) : 0;
            if (!want) want = fs.last_other_name_dir(e->link_id, parent, name);
            if (!pool || (want && !l.holds(want))) {
                pool = true;
                last = want;
                continue;
            }
        }
        err = fs.remove_name(l, parent, *d, name);
        if (err == 0) fs.touch_dir(parent);
        return (void)fuse_reply_err(req, err);
    }
}

void rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
    auto& fs = fs_of(req);
    if (fs.opt().read_only) return (void)fuse_reply_err(req, EROFS);
    // The child's lock too (it goes): learnt on the first pass.
    for (fuse_ino_t locked_child = 0;;) {
        OpLocks l(fs, {parent, locked_child}, false, true);
        int err = 0;
        DirState* d = fs.dir_of(l, parent, &err);
        if (!d) return (void)fuse_reply_err(req, err);
        Entry* e = d->find(name);
        if (!e) return (void)fuse_reply_err(req, ENOENT);
        if (e->type != NodeType::Dir) return (void)fuse_reply_err(req, ENOTDIR);
        const fuse_ino_t ino = fs.node_for(parent, *e);
        if (ino != locked_child) {
            locked_child = ino;
            continue;
        }
        return remove_dir(req, fs, l, parent, d, name, ino);
    }
}

}  // namespace pershome::fs::ops
