// link: a hard-linked inode lives in the link pool (PERSHOME.LNK at the
// backing root) under its link id; every name is an index entry pointing
// there. See docs/on-stick-format.md for the crash-safe order below.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "fs/name_codec.hpp"
#include "fs/ops.hpp"

namespace pershome::fs::ops {

void link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
    auto& fs = fs_of(req);
    if (fs.opt().read_only) return (void)fuse_reply_err(req, EROFS);
    if (std::strlen(newname) > 255) return (void)fuse_reply_err(req, ENAMETOOLONG);
    if (!is_valid_posix_name(newname)) return (void)fuse_reply_err(req, EINVAL);
    std::shared_lock alloc(fs.alloc_lock());  // may allocate clusters: see BackingAllocLock
    std::lock_guard lk(fs.mutex());
    int err = 0;
    Node* n = fs.node(ino);
    AttrRef a = fs.attrs(ino);
    if (!n || n->detached || !a.entry) return (void)fuse_reply_err(req, ENOENT);
    if (a.entry->type == NodeType::Dir) return (void)fuse_reply_err(req, EPERM);
    DirState* dd = fs.dir_of(newparent, &err);
    if (!dd) return (void)fuse_reply_err(req, err);
    if (dd->find(newname)) return (void)fuse_reply_err(req, EEXIST);
    DirState* pool = fs.pool(true, &err);
    if (!pool) return (void)fuse_reply_err(req, err);
    const Timestamp now = now_ts();

    if (!n->link_id) {
        // First extra name: move the inode into the pool.
        // 1. pool entry (nlink 2) written; 2. the name's entry marked linked,
        // keeping its backing name as a fallback, written; 3. backing file
        // moved into the pool. A crash between any two steps leaves the file
        // reachable under its old name.
        DirState* sd = a.owner;
        Entry& e = *a.entry;
        const std::uint64_t id = fs.next_link_id();
        Entry p = e;
        p.name = fs.link_name(id);
        p.real = fs.pool_backing_name(id);
        p.link_id = 0;
        p.nlink = 2;
        p.ctime = now;
        pool->add(p);
        fs.mark_dirty(pool);
        if ((err = fs.flush(pool))) {
            pool->remove(p.name);
            return (void)fuse_reply_err(req, err);
        }
        e.link_id = id;
        fs.mark_dirty(sd);
        if ((err = fs.flush(sd)) ||
            renameat(sd->fd.get(), e.real.c_str(), pool->fd.get(), p.real.c_str()) != 0) {
            if (!err) err = errno;
            e.link_id = 0;
            pool->remove(p.name);
            fs.mark_dirty(pool);
            fs.mark_dirty(sd);
            return (void)fuse_reply_err(req, err);
        }
        // The file's pool entry (its own fsync) and long name (the pool
        // directory's) reach the stick before anything writes the sector of
        // `sd` that no longer holds it, as its next index write does: a
        // pull between the two would leave the file under no name.
        if (int e2 = fsync_backing(pool->fd.get(), p.real);
            e2 || (e2 = fsync_backing(pool->fd.get(), "")))
            fs.log(std::string("link: syncing the link pool failed: ") + std::strerror(e2));
        sd->claimed.erase(e.real);
        e.real.clear();
        fs.note_renamed(pool, p.real);
        fs.mark_dirty(sd);
        fs.rekey_to_link(n->parent, n->name, id);
    } else {
        Entry* pe = pool->find(fs.link_name(n->link_id));
        if (!pe) return (void)fuse_reply_err(req, ENOENT);
        if (pe->nlink >= kMaxNlink) return (void)fuse_reply_err(req, EMLINK);
        pe->nlink++;
        pe->ctime = now;
        fs.mark_dirty(pool);
        fs.flush(pool);
    }
    Entry name_entry;
    name_entry.name = newname;
    name_entry.type = a.entry->type;
    name_entry.link_id = n->link_id;
    dd->add(name_entry);
    fs.mark_dirty(dd);
    fs.flush(dd);
    fs.touch_dir(newparent);
    fuse_entry_param ep;
    if ((err = fs.fill_entry(newparent, name_entry, &ep))) return (void)fuse_reply_err(req, err);
    fuse_reply_entry(req, &ep);
}

}  // namespace pershome::fs::ops
