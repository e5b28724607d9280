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
// So renames, unlike creates, never wait for the lazy write-back: a rename
// is how programs replace a file atomically (write a temporary, rename it
// over), and a crash must not bring back a state nobody asked for. An
// index write that fails is the caller's error (EIO: the rename is done in
// memory, not on the stick).
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <optional>

#include <tl/expected.hpp>

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

int exchange(Fs& fs, OpLocks& l, fuse_ino_t parent, DirState* d, const std::string& a,
             const std::string& b) {
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
    if (int err = fs.flush(l, d)) return err;
    fs.swap_keys(parent, a, b);
    fs.touch_dir(parent);
    return 0;
}

// The locks a rename needs beyond its two directories, learnt from what
// the names are (a first pass without them, then again with them).
struct RenameLocks {
    fuse_ino_t dst_dir = 0;   // a directory being replaced (it goes)
    fuse_ino_t heir_dir = 0;  // where a replaced primary's data moves
    bool pool = false;        // a hard link is moved or replaced
    bool operator==(const RenameLocks&) const = default;
};

// The rename with its locks held; nullopt: `*want` says which are missing.
std::optional<int> locked_rename(Fs& fs, OpLocks& l, RenameLocks* want, fuse_ino_t parent,
                                 const std::string& name, fuse_ino_t newparent,
                                 const std::string& newname, unsigned flags);

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
    std::optional<int> err;
    for (RenameLocks held; !err;) {
        // May allocate clusters: see BackingAllocLock.
        OpLocks l(fs, {parent, newparent, held.dst_dir, held.heir_dir}, held.pool, true);
        RenameLocks want = held;
        err = locked_rename(fs, l, &want, parent, name, newparent, newname, flags);
        held = want;
    }
    // Answered with the locks let go (see link()).
    fuse_reply_err(req, *err);
}

namespace {

// Both directories' indexes now (the destination first: it names the
// file); the first error is the caller's.
int flush_both(Fs& fs, OpLocks& l, DirState* dd, DirState* sd) {
    const int e1 = fs.flush(l, dd);
    const int e2 = sd == dd ? 0 : fs.flush(l, sd);
    return e1 ? e1 : e2;
}

// A hard link's name moves; the inode stays in the pool.
int move_link_name(Fs& fs, OpLocks& l, fuse_ino_t parent, DirState* sd, const std::string& name,
                   fuse_ino_t newparent, DirState* dd, const std::string& newname) {
    if (dd->find(newname))
        if (int err = fs.remove_name(l, newparent, *dd, newname)) return err;
    Entry moved = *sd->find(name);
    // Across directories the name is in both indexes between their two
    // writes: the count covers it first, so a crash leaves it one too high
    // (catch-up), never too low (an unlink would then drop the file while
    // a name remains).
    Entry* pe = sd != dd && fs.pool() ? fs.pool()->find(fs.link_name(moved.link_id)) : nullptr;
    if (pe) {
        pe->nlink++;
        fs.mark_dirty(fs.pool());
        if (int err = fs.flush(l, fs.pool())) return err;
    }
    moved.name = newname;
    moved.ctime = now_ts();
    moved.real.clear();
    sd->remove(name);
    dd->add(moved);
    fs.mark_dirty(sd);
    fs.mark_dirty(dd);
    fs.relink_hint(moved.link_id, newparent, newname);
    fs.touch_dir(parent);
    fs.touch_dir(newparent);
    const int err = flush_both(fs, l, dd, sd);
    if (pe && (pe = fs.pool()->find(fs.link_name(moved.link_id)))) {
        pe->nlink--;
        fs.mark_dirty(fs.pool());
    }
    return err;
}

// What a directory's rename does around its backing rename for the
// hard-linked files below it (Fs::group_paths_follow): `before` the new
// backing name, `after` whether it moved.
struct AroundRename {
    std::function<int(const std::string&)> before;
    std::function<int(bool)> after;
};

// A name the backing cannot hold: the new entry reaches the index (beside
// the old one) before the backing rename to its generated name, so the
// file never shows under a name nobody gave it. The generated name, or an
// errno.
tl::expected<std::string, int> to_generated(Fs& fs, OpLocks& l, DirState* sd, DirState* dd,
                                            const Entry& src, const std::string& newname,
                                            const AroundRename& around) {
    const std::string old_real = src.real;
    Entry pending = src;
    pending.name = newname;
    pending.ctime = now_ts();
    for (std::uint32_t attempt = 0; attempt < 64; ++attempt) {
        std::string g = fs.generated(newname, attempt);
        struct stat st {};
        if (dd->claimed.count(g) ||
            fstatat(fs.dir_fd(*dd), g.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
            continue;
        pending.real = g;
        dd->add(pending);
        fs.mark_dirty(dd);
        if (int err = fs.flush(l, dd)) {
            dd->remove(newname);
            return tl::unexpected(err);
        }
        if (int err = around.before(g)) {
            dd->remove(newname);
            fs.mark_dirty(dd);
            return tl::unexpected(err);
        }
        const int err = backing_rename_noreplace(fs.dir_fd(*sd), old_real, fs.dir_fd(*dd), g);
        if (err == 0) return g;
        (void)around.after(false);
        dd->remove(newname);
        fs.mark_dirty(dd);
        if (err != EEXIST) return tl::unexpected(err);
    }
    return tl::unexpected(EEXIST);
}

AroundRename around_dir_rename(Fs& fs, OpLocks& l, fuse_ino_t moving_dir, fuse_ino_t newparent,
                               std::vector<std::string>& groups) {
    AroundRename around;
    around.before = [&fs, &l, &groups, moving_dir, newparent](const std::string& target) {
        return moving_dir ? fs.group_paths_follow(l, moving_dir, newparent, target, &groups) : 0;
    };
    around.after = [&fs, &l, &groups](bool moved) {
        const int e = fs.settle_group_paths(l, groups, moved);
        groups.clear();
        return e;
    };
    return around;
}

// Replace: the target's backing name is reused so that the backing rename
// replaces it atomically; its entry goes.
int replace_target(Fs& fs, OpLocks& l, DirState* sd, const std::string& old_real,
                   fuse_ino_t newparent, DirState* dd, const std::string& newname,
                   DirState* dst_dir_state, const AroundRename& around) {
    const std::string target = dd->find(newname)->real;
    if (int err = around.before(target)) {
        (void)around.after(false);
        return err;
    }
    // (The write above let go of mu_; the entries are ours all the same.)
    // The replaced directory's writer lock keeps a lazy write of it in
    // flight from recreating its index between the unlink and the rename,
    // or writing after it.
    std::unique_lock<std::mutex> wl;
    if (dst_dir_state) {
        wl = l.writer_lock(*dst_dir_state->writer);
        // (An empty directory may have none; failing, the rename below
        // fails with ENOTEMPTY and says so.)
        (void)unlinkat(fs.dir_fd(*dst_dir_state), std::string(kIndexFileName).c_str(), 0);
    }
    if (renameat(fs.dir_fd(*sd), old_real.c_str(), fs.dir_fd(*dd), target.c_str()) != 0) {
        const int err = errno;
        wl = {};
        (void)around.after(false);
        return err;
    }
    if (dst_dir_state) dst_dir_state->writer->gone = true;
    wl = {};
    const Entry copy = *dd->find(newname);
    dd->remove(newname);
    fs.detach(newparent, newname, copy);
    return 0;
}

// The locks a rename of `src` over `dst` (if any) needs beyond its two
// directories.
RenameLocks locks_needed(Fs& fs, fuse_ino_t newparent, const Entry& src, const Entry* dst,
                         unsigned flags) {
    const bool exchanging = flags & RENAME_EXCHANGE;
    RenameLocks need;
    // (A directory may hold the name that holds a hard-linked file's data,
    // or one the data is moving to: every directory rename takes the pool's
    // lock, so that no link or move records a path this rename changes.)
    need.pool =
        src.linked() || (dst && dst->linked()) || (src.type == NodeType::Dir && !exchanging);
    if (dst && dst->type == NodeType::Dir && !exchanging)
        need.dst_dir = fs.node_for(newparent, *dst);
    // (A replaced name holding a hard-linked file's data hands it on.)
    if (dst && dst->linked() && !exchanging && fs.is_primary(newparent, *dst))
        need.heir_dir = fs.heir_dir(dst->link_id);
    return need;
}

bool holds_all(const OpLocks& l, const RenameLocks& need) {
    return (!need.pool || l.holds_pool()) && (!need.dst_dir || l.holds(need.dst_dir)) &&
           (!need.heir_dir || l.holds(need.heir_dir));
}

// What POSIX asks of a replaced target: the same kind as the source, and
// empty if a directory. That directory's state (nullptr for a file), or an
// errno.
tl::expected<DirState*, int> replaced_dir(Fs& fs, OpLocks& l, const Entry& src, const Entry& dst,
                                          fuse_ino_t dst_dir) {
    const bool src_is_dir = src.type == NodeType::Dir, dst_is_dir = dst.type == NodeType::Dir;
    if (src_is_dir && !dst_is_dir) return tl::unexpected(ENOTDIR);
    if (!src_is_dir && dst_is_dir) return tl::unexpected(EISDIR);
    if (!dst_is_dir) return nullptr;
    // (A load lets go of mu_: src and dst stay, being ours.)
    int err = 0;
    DirState* state = fs.dir_of(l, dst_dir, &err);
    if (!state) return tl::unexpected(err);
    if (!state->entries.empty()) return tl::unexpected(ENOTEMPTY);
    return state;
}

// The backing rename of a name that is not a hard link's: its backing
// name afterwards, or an errno. Replacing a plain target reuses its
// backing name (atomic); a name FAT holds as itself is taken as is; one
// already under a generated name in the same directory keeps it; any
// other gets a generated name.
tl::expected<std::string, int> rename_backing(Fs& fs, OpLocks& l, DirState* sd,
                                              const std::string& name, fuse_ino_t newparent,
                                              DirState* dd, const std::string& newname,
                                              DirState* dst_dir_state, const AroundRename& around) {
    const std::string old_real = sd->find(name)->real;
    if (const Entry* dst = dd->find(newname)) {
        if (!dst->linked()) {
            const std::string target = dst->real;
            if (int err = replace_target(fs, l, sd, old_real, newparent, dd, newname, dst_dir_state,
                                         around))
                return tl::unexpected(err);
            return target;
        }
        if (int err = fs.remove_name(l, newparent, *dd, newname)) return tl::unexpected(err);
    }
    if (fs.stored_as_itself(newname) && !dd->claimed.count(newname)) {
        if (int err = around.before(newname)) {
            (void)around.after(false);
            return tl::unexpected(err);
        }
        const int err = backing_rename_noreplace(fs.dir_fd(*sd), old_real, fs.dir_fd(*dd), newname);
        if (err == 0) return newname;
        (void)around.after(false);
        if (!backing_refused_name(err)) return tl::unexpected(err);
    }
    if (sd == dd && old_real != name) return old_real;  // (only the index changes)
    return to_generated(fs, l, sd, dd, *sd->find(name), newname, around);
}

// The entry takes its new name and backing name in memory, then both
// indexes are written, then the hard-linked files below a moved directory
// settle their paths (after: a crash before finds the old paths gone).
int rename_entry(Fs& fs, OpLocks& l, fuse_ino_t parent, DirState* sd, const std::string& name,
                 fuse_ino_t newparent, DirState* dd, const std::string& newname,
                 const std::string& target, const AroundRename& around) {
    // Afresh: an index write let go of mu_, and a chmod may have come
    // meanwhile.
    Entry moved = *sd->find(name);
    if (target != moved.real || sd != dd) fs.note_renamed(dd, target);
    moved.name = newname;
    moved.ctime = now_ts();
    moved.real = target;
    sd->remove(name);
    dd->add(moved);
    fs.mark_dirty(sd);
    fs.mark_dirty(dd);
    fs.rekey(parent, name, newparent, newname);
    fs.touch_dir(parent);
    fs.touch_dir(newparent);
    const int err1 = flush_both(fs, l, dd, sd);
    const int err2 = around.after(true);
    return err1 ? err1 : err2;
}

std::optional<int> locked_rename(Fs& fs, OpLocks& l, RenameLocks* want, fuse_ino_t parent,
                                 const std::string& name, fuse_ino_t newparent,
                                 const std::string& newname, unsigned flags) {
    int err = 0;
    DirState* sd = fs.dir_of(l, parent, &err);
    DirState* dd = sd ? fs.dir_of(l, newparent, &err) : nullptr;
    if (!sd || !dd) return err;
    // (Loading dd may have let go of mu_; sd is ours all the same.)
    Entry* src = sd->find(name);
    if (!src) return ENOENT;
    fs.settle(*sd, *src);  // its copies below carry its times
    Entry* dst = dd->find(newname);
    const RenameLocks need = locks_needed(fs, newparent, *src, dst, flags);
    if (!holds_all(l, need)) {
        *want = need;
        return std::nullopt;
    }

    if (flags & RENAME_EXCHANGE) {
        if (!dst) return ENOENT;
        if (sd != dd) return EINVAL;
        return exchange(fs, l, parent, sd, name, newname);
    }
    if (dst && (flags & RENAME_NOREPLACE)) return EEXIST;
    if (sd == dd && name == newname) return 0;
    // Two names of one inode: POSIX says do nothing.
    if (dst && src->linked() && dst->link_id == src->link_id) return 0;
    DirState* dst_dir_state = nullptr;
    if (dst) {
        auto r = replaced_dir(fs, l, *src, *dst, need.dst_dir);
        if (!r) return r.error();
        dst_dir_state = *r;
    }
    // Within the caps of the destination's index (the reader's).
    if (!dst && sd != dd && !dd->has_room_for(*src)) return ENOSPC;
    if (src->linked() && fs.is_primary(parent, *src)) {
        // Its data follows it on the backing (link_moves.cpp); where no
        // backing name can hold it, it moves to another name first.
        if (auto r = fs.rename_primary(l, parent, sd, name, newparent, dd, newname)) return *r;
        if (!(src = sd->find(name))) return ENOENT;
        if ((err = fs.group_leaves_primary(l, src->link_id, sd))) return err;
        if (!(src = sd->find(name))) return ENOENT;
    }
    if (src->linked()) return move_link_name(fs, l, parent, sd, name, newparent, dd, newname);
    // A directory's backing rename carries the hard-linked files below it:
    // their data paths name the new place and the old one before it, and
    // settle after it (link_moves.cpp).
    const bool src_is_dir = src->type == NodeType::Dir;
    const fuse_ino_t moving_dir = src_is_dir && l.holds_pool() ? fs.node_for(parent, *src) : 0;
    std::vector<std::string> groups;
    const AroundRename around = around_dir_rename(fs, l, moving_dir, newparent, groups);
    const auto target =
        rename_backing(fs, l, sd, name, newparent, dd, newname, dst_dir_state, around);
    if (!target) return target.error();
    return rename_entry(fs, l, parent, sd, name, newparent, dd, newname, *target, around);
}

}  // namespace

}  // namespace pershome::fs::ops
