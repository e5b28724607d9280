// link: a hard-linked inode lives in the link pool (PERSHOME.LNK at the
// backing root) under its link id; every name is an index entry pointing
// there. See docs/on-stick-format.md for the crash-safe order below.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include "fs/link_paths.hpp"
#include "fs/name_codec.hpp"
#include "fs/ops.hpp"

namespace pershome::fs::ops {

namespace {

// The inode's first extra name: it moves into the pool.
// 1. pool entry (nlink 2) written; 2. the name's entry marked linked,
// keeping its backing name as a fallback, written; 3. backing file moved
// into the pool. A crash between any two steps leaves the file reachable
// under its old name.
int move_into_pool(Fs& fs, OpLocks& l, Node* n, DirState* pool, DirState* sd) {
    Entry& e = *sd->find(n->name);
    const std::uint64_t id = fs.next_link_id();
    Entry p = e;
    p.name = fs.link_name(id);
    p.real = fs.pool_backing_name(id);
    p.link_id = 0;
    p.nlink = 2;
    p.ctime = now_ts();
    pool->add(p);
    fs.mark_dirty(pool);
    if (int err = fs.flush(l, pool)) {
        pool->remove(p.name);
        return err;
    }
    e.link_id = id;
    fs.mark_dirty(sd);
    int err = fs.flush(l, sd);
    if (!err && renameat(fs.dir_fd(*sd), e.real.c_str(), fs.dir_fd(*pool), p.real.c_str()) != 0)
        err = errno;
    if (err) {
        e.link_id = 0;
        pool->remove(p.name);
        fs.mark_dirty(pool);
        fs.mark_dirty(sd);
        return err;
    }
    // The file's pool entry (its own fsync) and long name (the pool
    // directory's) reach the stick before anything writes the sector of
    // `sd` that no longer holds it, as its next index write does: a pull
    // between the two would leave the file under no name.
    const int pfd = fs.dir_fd(*pool);
    (void)sync_moved(fs, l, pfd, p.real, -1,
                     "link: moving the file into the link pool");  // (logged)
    sd->claimed.erase(e.real);
    e.real.clear();
    fs.note_renamed(pool, p.real);
    fs.mark_dirty(sd);
    fs.rekey_to_link(n->parent, n->name, id);
    return 0;
}

// The inode's first extra name, its data staying where it is: 1. the name's
// entry marked linked, keeping its backing name, written; 2. the pool's
// entry (nlink 2, AT_PATH: the file's path) written. A crash between the
// two leaves a linked name whose group is missing and whose file is there:
// a plain file (docs/on-stick-format.md, section 5). Never the reverse
// order: a group no name refers to could later take another file for its.
int group_in_place(Fs& fs, OpLocks& l, Node* n, DirState* pool, DirState* sd) {
    const Entry& e = *sd->find(n->name);
    const auto dir = fs.backing_path(n->parent);
    // (A path the format cannot hold: the data goes into the pool.)
    if (!dir || e.real.empty() || dir->size() + e.real.size() > kMaxRealLen)
        return move_into_pool(fs, l, n, pool, sd);
    // A group no name refers to may point here still (written by an
    // earlier version of this order): it goes with this write.
    for (auto it = pool->entries.begin(); it != pool->entries.end(); ++it)
        if (it->second.at_path && it->second.real == *dir + e.real) {
            pool->remove(std::string(it->first));
            break;
        }
    const std::uint64_t id = fs.next_link_id();
    Entry p = e;
    p.name = fs.link_name(id);
    p.real = *dir + e.real;
    p.at_path = true;
    p.link_id = 0;
    p.nlink = 2;
    p.ctime = now_ts();
    sd->find(n->name)->link_id = id;
    fs.mark_dirty(sd);
    if (int err = fs.flush(l, sd)) {
        sd->find(n->name)->link_id = 0;
        fs.mark_dirty(sd);
        return err;
    }
    // (The flush let go of mu_; sd's entries stay, its lock being ours.)
    pool->add(p);
    fs.mark_dirty(pool);
    if (int err = fs.flush(l, pool)) {
        pool->remove(p.name);
        sd->find(n->name)->link_id = 0;
        fs.mark_dirty(pool);
        fs.mark_dirty(sd);
        return err;
    }
    fs.rekey_to_link(n->parent, n->name, id);
    return 0;
}

// The link with its locks held: the new name's directory, the inode's
// own (`held_parent`, for its first extra name) and the pool's.
std::optional<int> locked_link(Fs& fs, OpLocks& l, fuse_ino_t* held_parent, fuse_ino_t ino,
                               fuse_ino_t newparent, const char* newname, fuse_entry_param* ep) {
    Node* n = fs.node(ino);
    AttrRef a = fs.attrs(ino);
    if (!n || n->detached || !a.entry) return ENOENT;
    if (a.entry->type == NodeType::Dir) return EPERM;
    if (!n->link_id && !l.holds(n->parent)) {
        *held_parent = n->parent;
        return std::nullopt;
    }
    int err = 0;
    DirState* dd = fs.dir_of(l, newparent, &err);
    if (!dd) return err;
    if (dd->find(newname)) return EEXIST;
    Entry probe;
    probe.name = newname;
    if (!dd->has_room_for(probe)) return ENOSPC;  // within the reader's caps
    DirState* pool = fs.make_pool(l, &err);
    if (!pool) return err;
    // (Loads and the pool's making let go of mu_: look again.)
    n = fs.node(ino);
    a = fs.attrs(ino);
    if (!n || n->detached || !a.entry) return ENOENT;
    if (!n->link_id) {
        if (!l.holds(n->parent)) {
            *held_parent = n->parent;
            return std::nullopt;
        }
        if ((err = group_in_place(fs, l, n, pool, a.owner))) return err;
    } else {
        Entry* pe = pool->find(fs.link_name(n->link_id));
        if (!pe) return ENOENT;
        if (pe->nlink >= kMaxNlink) return EMLINK;
        pe->nlink++;
        pe->ctime = now_ts();
        fs.mark_dirty(pool);
        if ((err = fs.flush(l, pool))) {
            pe = pool->find(fs.link_name(n->link_id));
            if (pe) pe->nlink--;
            return err;
        }
    }
    Entry name_entry;
    name_entry.name = newname;
    name_entry.type = fs.attrs(ino).entry->type;
    name_entry.link_id = n->link_id;
    dd->add(name_entry);
    fs.mark_dirty(dd);
    // The pool counts this name already: a crash before the name's index
    // write leaves a count one too high, which --check settles.
    if ((err = fs.flush(l, dd))) return err;
    fs.touch_dir(newparent);
    return fs.fill_entry(newparent, name_entry, ep);
}

}  // namespace

void link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
    auto& fs = fs_of(req);
    if (fs.opt().read_only) return (void)fuse_reply_err(req, EROFS);
    if (std::strlen(newname) > 255) return (void)fuse_reply_err(req, ENAMETOOLONG);
    if (!is_valid_posix_name(newname)) return (void)fuse_reply_err(req, EINVAL);
    fuse_entry_param ep;
    std::optional<int> err;
    for (fuse_ino_t held_parent = 0; !err;) {
        // May allocate clusters: see BackingAllocLock.
        OpLocks l(fs, {newparent, held_parent}, true, true);
        err = locked_link(fs, l, &held_parent, ino, newparent, newname, &ep);
    }
    // Answered with the locks let go: the caller's next step (git unlinks
    // the old name) may want them (unlink_last_but_one only try_locks).
    if (*err) return (void)fuse_reply_err(req, *err);
    fuse_reply_entry(req, &ep);
}

}  // namespace pershome::fs::ops
