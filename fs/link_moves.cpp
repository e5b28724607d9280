// Moves of a hard-linked file's data that keep it under one of its names,
// so computers reading the stick without pershome-fs still see the file
// (docs/on-stick-format.md, sections 5 and 7): when its primary name goes,
// the data moves to another name (the heir); when the primary is renamed,
// or a directory above it, the data goes with it and the pool's path
// follows. Each step is written before the next one relies on it; the
// pool's entry names the old place and the new one while the file moves,
// and readers take the old one while it exists.
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <tuple>

#include "fs/fs.hpp"
#include "fs/link_paths.hpp"
#include "fs/name_codec.hpp"

namespace pershome::fs {

std::optional<std::string> free_backing_name(Fs& fs, DirState& d, const std::string& name) {
    const int dfd = fs.dir_fd(d);
    auto is_free = [&](const std::string& real) {
        struct stat st {};
        return !d.claimed.count(real) &&
               fstatat(dfd, real.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT;
    };
    if (fs.stored_as_itself(name) && is_free(name)) return name;
    for (std::uint32_t attempt = 0; attempt < 64; ++attempt)
        if (std::string g = fs.generated(name, attempt); is_free(g)) return g;
    return std::nullopt;
}

namespace {

// `name`'s entry in `d` with backing name `real` ("" for none).
void set_real(Fs& fs, DirState& d, const std::string& name, const std::string& real) {
    Entry e = *d.find(name);
    e.real = real;
    d.remove(name);
    d.add(std::move(e));
    fs.mark_dirty(&d);
}

std::string last_component(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::vector<std::pair<fuse_ino_t, std::string>> Fs::heirs(std::uint64_t id) {
    std::vector<std::tuple<bool, std::string, fuse_ino_t, std::string>> found;
    for (auto& [ino, n] : nodes_) {
        if (!n.dir || n.detached) continue;
        std::optional<std::string> path;
        for (auto& [ename, e] : n.dir->entries) {
            // (A name with a backing name is the primary, or keeps a file
            // a torn move left, which must stay claimed: not an heir.)
            if (e.link_id != id || !e.real.empty()) continue;
            if (!path && !(path = backing_path(ino))) break;
            found.emplace_back(!stored_as_itself(ename), *path + ename, ino, ename);
        }
    }
    std::sort(found.begin(), found.end());
    std::vector<std::pair<fuse_ino_t, std::string>> out;
    for (auto& f : found) out.emplace_back(std::get<2>(f), std::move(std::get<3>(f)));
    return out;
}

fuse_ino_t Fs::heir_dir(std::uint64_t id) {
    if (!group_at_path(id)) return 0;
    const auto h = heirs(id);
    return h.empty() ? 0 : h.front().first;
}

int Fs::group_leaves_primary(OpLocks& l, std::uint64_t id, DirState* home) {
    if (!group_at_path(id)) return 0;
    for (const auto& [dir, name] : heirs(id)) {
        // (The unlink or rename took the first one's lock in order.)
        if (!l.holds(dir) && !l.try_add(dir, dir_mutex(dir))) continue;
        if (auto moved = try_heir(l, id, dir, name, home)) return *moved;
    }
    // (Its other names are in directories not loaded, or none can hold it.)
    const bool none_known = heirs(id).empty();
    const int err = group_to_pool(l, id, home);
    // A search of the stick finds one of them, off this caller's path.
    if (!err && none_known) want_search(id);
    return err;
}

std::optional<int> Fs::try_heir(OpLocks& l, std::uint64_t id, fuse_ino_t dir,
                                const std::string& name, DirState* home) {
    DirState* d = loaded_dir(dir);
    const auto path = backing_path(dir);
    if (!d || !path || !d->find(name)) return std::nullopt;
    const auto real = free_backing_name(*this, *d, name);
    if (!real || path->size() + real->size() > kMaxRealLen) return std::nullopt;
    return group_to_heir(l, id, *d, name, *path + *real, home);
}

int Fs::group_to_heir(OpLocks& l, std::uint64_t id, DirState& d, const std::string& name,
                      const std::string& to, DirState* home) {
    DirState* p = pool();
    const Entry& pe = *p->find(link_name(id));
    // From its primary, or out of the pool (the same steps: section 7).
    const bool pooled = !pe.at_path;
    const std::string pname = pe.name, was = pe.real;
    const std::string from = pooled ? std::string(kLinkPoolName) + '/' + was : was;
    const std::string real = last_component(to);
    auto unmoved = [&] { set_group_path(*this, *p, pname, was, "", !pooled); };
    // 1. The heir names its backing name, written: until the file is there,
    // a reader takes it for an ordinary other name (its backing is missing).
    set_real(*this, d, name, real);
    if (int err = flush(l, &d)) {
        set_real(*this, d, name, "");
        return err;
    }
    // 2. The group names both places, written: a reader takes the old one
    // while it exists, so a crash before the rename changes nothing.
    set_group_path(*this, *p, pname, to, from, true);
    if (int err = flush(l, p)) {
        unmoved();
        set_real(*this, d, name, "");
        return err;
    }
    // 3. The file moves. vfat writes a move as two directory updates: the
    // heir's (the file, then its directory's long name) is synced first,
    // then the old directory's, before anything says the file left it.
    const int dfd = dir_fd(d);  // (pinned: its lock is held)
    auto at = open_parent_beneath(root_fd_.get(), from);
    if (!at ||
        renameat2(at->dir.get(), at->name.c_str(), dfd, real.c_str(), RENAME_NOREPLACE) != 0) {
        const int err = errno;
        unmoved();
        set_real(*this, d, name, "");
        log(std::string("moving a hard-linked file to another of its names: ") +
            std::strerror(err));
        if (int e = flush(l, p)) return e;
        return pooled ? err : group_to_pool(l, id, home);
    }
    (void)sync_moved(*this, l, dfd, real, at->dir.get(),
                     "moving a hard-linked file to another name");  // (logged)
    // 4. The path settles, written before the old backing name may be
    // reused: until then a reader would take a new file there for the group's.
    set_group_path(*this, *p, pname, to, "", true);
    if (int err = flush(l, p)) {
        log(std::string("moving a hard-linked file to another name: index write failed: ") +
            std::strerror(err));
        return err;  // (the old name stays claimed meanwhile)
    }
    forget_primary(*this, home, id, from);
    return 0;
}

std::optional<int> Fs::rename_primary(OpLocks& l, fuse_ino_t parent, DirState* sd,
                                      const std::string& name, fuse_ino_t newparent, DirState* dd,
                                      const std::string& newname) {
    const std::uint64_t id = sd->find(name)->link_id;
    // A name it replaces goes first, as for any hard link's name moving.
    if (dd->find(newname))
        if (int err = remove_name(l, newparent, *dd, newname)) return err;
    const auto dpath = backing_path(newparent);
    const auto real = dpath ? free_backing_name(*this, *dd, newname) : std::nullopt;
    if (!real || dpath->size() + real->size() > kMaxRealLen || !group_at_path(id) ||
        !sd->find(name))
        return std::nullopt;
    DirState* p = pool();
    const std::string pname = link_name(id), from = group_at_path(id)->real, to = *dpath + *real;
    const std::string old_real = sd->find(name)->real;
    auto count = [&](int delta) {
        p->find(pname)->nlink += delta;
        mark_dirty(p);
    };
    // 1. The group names both places, its count covering both names (each
    // is on the stick until the old one's directory is written), written.
    set_group_path(*this, *p, pname, to, from, true);
    count(+1);
    auto undo_group = [&] {
        set_group_path(*this, *p, pname, from, "", true);
        count(-1);
        return flush(l, p);
    };
    if (int err = flush(l, p)) {
        (void)undo_group();
        return err;
    }
    // 2. The new name with its backing name, written beside the old one:
    // until the file is there a reader takes it for an ordinary other name.
    Entry moved = *sd->find(name);
    moved.name = newname;
    moved.real = *real;
    moved.ctime = now_ts();
    dd->add(moved);
    mark_dirty(dd);
    int err = flush(l, dd);
    // 3. The file moves; its new place reaches the stick first (vfat writes
    // a move as two directory updates).
    const int sfd = dir_fd(*sd), dfd = dir_fd(*dd);  // (pinned: locks held)
    if (!err && renameat2(sfd, old_real.c_str(), dfd, real->c_str(), RENAME_NOREPLACE) != 0)
        err = errno;
    if (err) {
        dd->remove(newname);
        mark_dirty(dd);
        (void)flush(l, dd);
        (void)undo_group();
        return err;
    }
    (void)sync_moved(*this, l, dfd, *real, -1, "renaming a hard-linked file");  // (logged)
    // 4. The old name goes, written; 5. the path settles and the count
    // drops, written, before the old backing name may be reused.
    sd->remove(name);
    mark_dirty(sd);
    err = flush(l, sd);
    set_group_path(*this, *p, pname, to, "", true);
    if (!err) count(-1);  // (else a count one too high: catch-up, never too low)
    const int err2 = flush(l, p);
    relink_hint(id, newparent, newname);
    touch_dir(parent);
    touch_dir(newparent);
    return err ? err : err2;
}

DirState* Fs::primary_home(OpLocks& l, std::uint64_t id) {
    for (auto& [ino, n] : nodes_) {
        if (!n.dir || n.detached) continue;
        for (auto& [ename, e] : n.dir->entries)
            if (e.link_id == id && !e.real.empty() && is_primary(ino, e))
                return l.holds(ino) || l.try_add(ino, dir_mutex(ino)) ? n.dir.get() : nullptr;
    }
    return nullptr;
}

int Fs::group_paths_follow(OpLocks& l, fuse_ino_t dir, fuse_ino_t newparent,
                           const std::string& target, std::vector<std::string>* groups) {
    DirState* p = pool();
    if (!p) return 0;
    const auto old_prefix = backing_path(dir), parent_path = backing_path(newparent);
    if (!old_prefix || !parent_path) return EIO;  // (never: both are loaded)
    const std::string new_prefix = *parent_path + target + '/';
    std::vector<std::string> under;
    for (const auto& [n, e] : p->entries)
        if (e.at_path && e.real_prev.empty() && e.real.starts_with(*old_prefix)) under.push_back(n);
    for (const auto& n : under) {
        const std::string from = p->find(n)->real;
        const std::string to = new_prefix + from.substr(old_prefix->size());
        if (to.size() <= kMaxRealLen) {
            set_group_path(*this, *p, n, to, from, true);
            groups->push_back(n);
            continue;
        }
        // A path the format cannot hold: the data goes into the pool first.
        std::uint64_t id = 0;
        std::from_chars(n.data(), n.data() + n.size(), id, 16);
        if (int err = group_to_pool(l, id, primary_home(l, id))) return err;
    }
    return groups->empty() ? 0 : flush(l, p);
}

int Fs::settle_group_paths(OpLocks& l, const std::vector<std::string>& groups, bool moved) {
    DirState* p = pool();
    if (!p || groups.empty()) return 0;
    for (const auto& n : groups) {
        const Entry* e = p->find(n);
        if (!e || e->real_prev.empty()) continue;
        set_group_path(*this, *p, n, moved ? e->real : e->real_prev, "", true);
    }
    return flush(l, p);
}

}  // namespace pershome::fs
