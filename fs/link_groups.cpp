// Hard-link groups whose data stays under one of their names (the
// "primary", docs/on-stick-format.md section 5): the link pool's entry says
// where (Entry::at_path), so other computers, which know nothing of the
// index, still see the file. When the primary goes, the data moves to
// another name (link_moves.cpp), or, when no other name can take it, into
// the pool, the layout older sticks have (here), crash-safely: the pool's
// entry names both places while the file moves, and a reader takes the old
// one while it exists.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "fs/fs.hpp"
#include "fs/link_paths.hpp"
#include "fs/name_codec.hpp"

namespace pershome::fs {

std::optional<std::string> Fs::backing_path(fuse_ino_t dir) {
    std::vector<const std::string*> reals;
    for (fuse_ino_t ino = dir; ino != FUSE_ROOT_ID;) {
        const Node* n = node(ino);
        const Node* parent = n ? node(n->parent) : nullptr;
        if (!n || n->detached || n->link_id || !parent || !parent->dir) return std::nullopt;
        const Entry* e = parent->dir->find(n->name);
        if (!e || e->real.empty()) return std::nullopt;
        reals.push_back(&e->real);
        ino = n->parent;
    }
    std::string path;
    for (auto it = reals.rbegin(); it != reals.rend(); ++it) {
        path += **it;
        path += '/';
    }
    return path;  // "" for the root, else "a/b/"
}

Entry* Fs::group_at_path(std::uint64_t id) {
    DirState* p = pool();
    Entry* pe = p ? p->find(link_name(id)) : nullptr;
    return pe && pe->at_path ? pe : nullptr;
}

bool Fs::is_primary(fuse_ino_t dir, const Entry& e) {
    if (!e.linked() || e.real.empty()) return false;
    const Entry* pe = group_at_path(e.link_id);
    if (!pe) return false;
    const auto path = backing_path(dir);
    return path && pe->real == *path + e.real;
}

void Fs::resolve_data_paths() {
    DirState* p = pool();
    if (!p) return;
    std::vector<std::string> gone;
    std::vector<Entry> settled;
    for (auto& [name, pe] : p->entries) {
        if (!pe.at_path) continue;
        Entry e = pe;
        switch (settle_data_path(root_fd_.get(), e)) {
            case DataPath::Settled:
                settled.push_back(std::move(e));
                break;
            case DataPath::Gone:
                // Deleted or renamed on another computer: the group goes,
                // and its names with it (a name without its group is dropped).
                gone.push_back(name);
                break;
            case DataPath::Same:
            case DataPath::Unknown:
                break;
        }
    }
    for (auto& e : settled) {
        p->remove(e.name);
        p->add(std::move(e));
        p->dirty = true;
    }
    for (const auto& name : gone) {
        log("link pool: the file of " + name + " is gone from " + p->find(name)->real);
        p->remove(name);
        p->dirty = true;
    }
    // Written before anything may take the old place's backing name, which
    // a reader of the stick would otherwise take for the file.
    if ((settled.empty() && gone.empty()) || opt_.read_only) return;
    if (int err = write_index(*p, nullptr))
        log(std::string("link pool: index write failed: ") + std::strerror(err));
}

int Fs::group_to_pool(OpLocks& l, std::uint64_t id, DirState* home) {
    DirState* p = pool();
    Entry* pe = group_at_path(id);
    if (!pe) return 0;
    const std::string pname = pe->name, from = pe->real, to = pool_backing_name(id);
    if (p->claimed.count(to)) return EEXIST;  // (a crafted pool)
    auto set_path = [&](const std::string& real, const std::string& prev, bool at_path) {
        set_group_path(*this, *p, pname, real, prev, at_path);
    };
    // 1. The pool's entry names both places, written; 2. the file moves;
    // 3. the entry is an ordinary pool entry again, written before the old
    // backing name may be reused (a reader takes the old place first).
    set_path(std::string(kLinkPoolName) + '/' + to, from, true);
    if (int err = flush(l, p)) {
        set_path(from, "", true);
        return err;
    }
    const int pfd = dir_fd(*p);
    auto at = open_parent_beneath(root_fd_.get(), from);
    if (!at || renameat2(at->dir.get(), at->name.c_str(), pfd, to.c_str(), RENAME_NOREPLACE) != 0) {
        const int err = errno;
        set_path(from, "", true);
        (void)flush(l, p);  // (the old place is read first either way)
        return err;
    }
    (void)sync_moved(*this, l, pfd, to, -1, "moving a file into the link pool");  // (logged)
    set_path(to, "", false);
    note_renamed(p, to);
    if (int err = flush(l, p)) {
        // The old name stays claimed (never reused) until the pool's
        // index says where the file went.
        log(std::string("moving a file into the link pool: index write failed: ") +
            std::strerror(err));
        return err;
    }
    forget_primary(*this, home, id, from);
    return 0;
}

int sync_moved(Fs& fs, OpLocks& l, int to_dir, const std::string& name, int from_dir,
               const char* what) {
    const int e = l.exclusive_io([&] {
        int r = fsync_backing(to_dir, name);
        if (!r) r = fsync_backing(to_dir, "");
        if (!r && from_dir >= 0) r = fsync_backing(from_dir, "");
        return r;
    });
    if (e) fs.log(std::string(what) + ": sync failed: " + std::strerror(e));
    return e;
}

void set_group_path(Fs& fs, DirState& p, const std::string& pname, const std::string& real,
                    const std::string& prev, bool at_path) {
    Entry e = *p.find(pname);
    e.real = real;
    e.real_prev = prev;
    e.at_path = at_path;
    p.remove(pname);
    p.add(std::move(e));
    fs.mark_dirty(&p);
}

void forget_primary(Fs& fs, DirState* home, std::uint64_t id, const std::string& from) {
    if (!home) return;
    const auto slash = from.rfind('/');
    const std::string base = slash == std::string::npos ? from : from.substr(slash + 1);
    for (auto& [n, e] : home->entries) {
        if (e.link_id != id || e.real != base) continue;
        Entry plain = e;
        plain.real.clear();
        home->remove(plain.name);
        home->add(std::move(plain));
        fs.mark_dirty(home);
        return;
    }
}

}  // namespace pershome::fs
