#include "fs/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "common/display_text.hpp"
#include "fs/inode_numbers.hpp"
#include "fs/link_paths.hpp"
#include "fs/name_codec.hpp"

namespace pershome::fs {

Fs& fs_of(fuse_req_t req) {
    return *static_cast<Fs*>(fuse_req_userdata(req));
}

OpLocks::OpLocks(Fs& fs, std::vector<fuse_ino_t> dirs, bool pool, bool alloc) : fs_(fs) {
    std::sort(dirs.begin(), dirs.end());
    dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
    std::erase(dirs, fuse_ino_t{0});
    {
        std::lock_guard lk(fs.mu_);
        for (fuse_ino_t ino : dirs)
            if (auto m = fs.dir_mutex(ino)) dirs_.push_back({ino, std::move(m), {}});
    }
    for (Held& h : dirs_) h.lock = std::unique_lock(*h.m);
    if (pool) {
        pool_mu_ = fs.pool_mu_;
        pool_ = std::unique_lock(*pool_mu_);
    }
    if (alloc) alloc_ = std::shared_lock(fs.alloc_);
    mu_ = std::unique_lock(fs.mu_);
    for (Held& h : dirs_)
        if (Node* n = fs.node(h.ino)) ++n->dir_pins;
}

OpLocks::~OpLocks() {
    if (!mu_.owns_lock()) mu_.lock();
    for (Held& h : dirs_)
        if (Node* n = fs_.node(h.ino)) --n->dir_pins;
}

bool OpLocks::holds(fuse_ino_t dir) const {
    return std::any_of(dirs_.begin(), dirs_.end(), [dir](const Held& h) { return h.ino == dir; });
}

bool OpLocks::try_add(fuse_ino_t dir, std::shared_ptr<std::mutex> m) {
    if (holds(dir)) return true;
    if (!m) return false;
    std::unique_lock lock(*m, std::try_to_lock);
    if (!lock) return false;
    dirs_.push_back({dir, std::move(m), std::move(lock)});
    if (Node* n = fs_.node(dir)) ++n->dir_pins;  // (mu_ is held)
    return true;
}

OpLocks::Relock::Relock(OpLocks& l, bool alloc_too)
    : l(l), alloc_too(alloc_too && l.alloc_.owns_lock()) {
    l.mu_.unlock();
    if (this->alloc_too) l.alloc_.unlock();
}

OpLocks::Relock::~Relock() {
    if (alloc_too) l.alloc_.lock();
    l.mu_.lock();
}

Fs::Fs(Options opt, UniqueFd root)
    : opt_(std::move(opt)),
      root_fd_(std::move(root)),
      passthrough_(opt_.passthrough, root_fd_.get()),
      write_behind_(alloc_, [this](fuse_ino_t ino) { stamp_write(ino); }) {
    load_pool();
    std::vector<std::string> problems;
    UniqueFd rfd(openat(root_fd_.get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    Node& r = nodes_[FUSE_ROOT_ID];
    r.nlookup = 1;
    r.st_ino = FUSE_ROOT_ID;
    by_st_ino_[FUSE_ROOT_ID] = FUSE_ROOT_ID;
    r.dir = std::make_unique<DirState>(load_dir(std::move(rfd), reconcile_options(), &problems));
    r.dir->ino = FUSE_ROOT_ID;
    log_findings("/", problems);
    if (r.dir->dirty) dirty_.insert(r.dir.get());
    queue_pool_out(*r.dir);
}

Fs::~Fs() {
    stop_flusher();
}

void Fs::stamp_write(fuse_ino_t ino) {
    std::lock_guard lk(mu_);
    AttrRef a = attrs(ino);
    if (!a.entry) return;
    a.entry->mtime = a.entry->ctime = now_ts();
    mark_dirty(a.owner);
}

DirHandle* Fs::keep_dir_handle(std::unique_ptr<DirHandle> h) {
    DirHandle* p = h.get();
    dir_handles_.emplace(p, std::move(h));
    return p;
}

void Fs::log(const std::string& msg) const {
    // Messages name files from the stick, which may hold any bytes: one
    // made to look like a log line of its own, or invalid UTF-8, is escaped.
    const std::string shown = display_text(msg, kShownBytes);
    std::fprintf(stderr, "pershome-fs: %s\n", shown.c_str());
    if (!opt_.foreground) syslog(LOG_NOTICE, "%s", shown.c_str());
}

void Fs::log_findings(const std::string& where, const std::vector<std::string>& findings) const {
    // A crafted index can earn a finding per entry: the log gets a taste.
    constexpr std::size_t kShown = 10;
    for (std::size_t i = 0; i < findings.size() && i < kShown; ++i) log(where + ": " + findings[i]);
    if (findings.size() > kShown)
        log(fmt::format("{}: {} more findings (pershome-fs --check lists them)", where,
                        findings.size() - kShown));
}

mode_t Fs::type_bits(NodeType t) const {
    switch (t) {
        case NodeType::Dir:
            return S_IFDIR;
        case NodeType::Symlink:
            return S_IFLNK;
        case NodeType::Fifo:
            return S_IFIFO;
        case NodeType::Socket:
            return S_IFSOCK;
        case NodeType::File:
            break;
    }
    return S_IFREG;
}

bool Fs::keeps_mode_only_in_index(NodeType t, mode_t mode) const {
    return (reconcile_default_mode(t == NodeType::Dir, opt_.umask) & ~mode) != 0;
}

ReconcileOptions Fs::reconcile_options() {
    ReconcileOptions ro;
    ro.umask = opt_.umask;
    ro.lazy_times = true;
    // Loads run without mu_ (dir_of), the pool's content changes under it.
    ro.link_group = [this](std::uint64_t id) {
        using G = ReconcileOptions::LinkGroup;
        std::lock_guard lk(mu_);
        const Entry* pe = pool_ ? pool_->find(link_name(id)) : nullptr;
        return !pe ? G::Missing : pe->at_path ? G::AtPath : G::InPool;
    };
    return ro;
}

Node* Fs::node(fuse_ino_t ino) {
    auto it = nodes_.find(ino);
    return it == nodes_.end() ? nullptr : &it->second;
}

std::string Fs::link_name(std::uint64_t id) const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
    return buf;
}

std::uint64_t Fs::next_link_id() {
    return ++max_link_id_;
}

bool Fs::stored_as_itself(const std::string& name) const {
    return opt_.names_83 ? is_83_name(name) : fat_can_hold(name);
}

std::string Fs::generated(const std::string& name, std::uint32_t attempt) const {
    return opt_.names_83 ? generated_name_83(name, attempt) : generated_name(name, attempt);
}

std::string Fs::pool_backing_name(std::uint64_t id) const {
    if (!opt_.names_83) return link_name(id);
    char buf[24];
    std::snprintf(buf, sizeof buf, "%08llX.LNK", static_cast<unsigned long long>(id & 0xFFFFFFFFu));
    return buf;
}

void Fs::load_pool() {
    const std::string name(kLinkPoolName);
    UniqueFd fd(
        openat(root_fd_.get(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return;
    std::vector<std::string> problems;
    ReconcileOptions ro;
    ro.umask = opt_.umask;
    ro.pool = true;
    pool_ = std::make_unique<DirState>(load_dir(std::move(fd), ro, &problems));
    log_findings("link pool", problems);
    resolve_data_paths();
    for (const auto& [n, e] : pool_->entries) {
        std::uint64_t id = 0;
        auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), id, 16);
        // A crafted id near 2^64 would make the next one wrap to 0,
        // which means "not linked"; no real stick gets anywhere near.
        if (ec == std::errc{} && id >= (std::uint64_t{1} << 62)) {
            log("link pool: entry " + n + " has an absurd link id; not used for numbering");
            continue;
        }
        if (ec == std::errc{} && id > max_link_id_) max_link_id_ = id;
    }
    if (pool_->dirty) dirty_.insert(pool_.get());
}

DirState* Fs::make_pool(OpLocks& l, int* err) {
    if (pool_) return pool_.get();
    const std::string name(kLinkPoolName);
    // Like any mkdir (ops::mkdir): vfat keeps the new directory's entry in
    // the root's buffers; the root's next index fsync would not carry it,
    // and a file moved in would be lost on a pull.
    const int e = l.exclusive_io([&] {
        if (mkdirat(root_fd_.get(), name.c_str(), 0700) != 0 && errno != EEXIST) return errno;
        UniqueFd rd(openat(root_fd_.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (rd) mark_hidden(rd.get());
        return fsync_backing(root_fd_.get(), "");
    });
    if (e) {
        *err = e;
        return nullptr;
    }
    UniqueFd fd(
        openat(root_fd_.get(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        *err = errno;
        return nullptr;
    }
    ReconcileOptions ro;
    ro.umask = opt_.umask;
    ro.pool = true;
    pool_ = std::make_unique<DirState>(load_dir(std::move(fd), ro, nullptr));
    return pool_.get();
}

DirState* Fs::loaded_dir(fuse_ino_t ino) {
    Node* n = node(ino);
    return n && !n->detached ? n->dir.get() : nullptr;
}

std::shared_ptr<std::mutex> Fs::dir_mutex(fuse_ino_t ino) {
    Node* n = node(ino);
    if (!n) return nullptr;
    if (!n->dir_mu) n->dir_mu = std::make_shared<std::mutex>();
    return n->dir_mu;
}

DirState* Fs::dir_of(OpLocks& l, fuse_ino_t ino, int* err) {
    Node* n = node(ino);
    if (!n || n->detached || !l.holds(ino)) {
        *err = ENOENT;
        return nullptr;
    }
    if (n->dir) return n->dir.get();
    AttrRef a = attrs(ino);
    if (!a.entry) {
        *err = ENOENT;
        return nullptr;
    }
    if (a.entry->type != NodeType::Dir) {
        *err = ENOTDIR;
        return nullptr;
    }
    auto loc = locate(ino);
    if (!loc) {
        *err = ENOENT;
        return nullptr;
    }
    UniqueFd fd(
        openat(loc->dirfd, loc->name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        *err = errno;
        return nullptr;
    }
    // The load (a listing, an index of up to the cap) runs without mu_:
    // the directory lock keeps every other loader of it waiting, and
    // nothing else needs it.
    const std::string where = path_of(ino);
    auto loaded = l.unlocked([&] {
        std::vector<std::string> problems;
        auto d =
            std::make_unique<DirState>(load_dir(std::move(fd), reconcile_options(), &problems));
        log_findings(where, problems);
        return d;
    });
    n = node(ino);  // held by its directory lock: neither detached nor gone
    n->dir = std::move(loaded);
    n->dir->ino = ino;
    fd_used(n->dir.get());
    if (n->dir->dirty) dirty_.insert(n->dir.get());
    queue_pool_out(*n->dir);
    return n->dir.get();
}

AttrRef Fs::attrs(fuse_ino_t ino, std::optional<struct stat>* backing) {
    Node* n = node(ino);
    if (!n) return {};
    if (ino == FUSE_ROOT_ID) return {&n->dir->self, n->dir.get()};
    if (n->detached) return {n->detached_entry.get(), nullptr};
    if (n->link_id) {
        DirState* p = pool();
        if (!p) return {};
        return {p->find(link_name(n->link_id)), p};
    }
    Node* parent = node(n->parent);
    if (!parent || !parent->dir) return {};
    Entry* e = parent->dir->find(n->name);
    if (e) settle(*parent->dir, *e, backing);
    return {e, parent->dir.get()};
}

void Fs::settle(DirState& d, Entry& e, std::optional<struct stat>* backing) {
    if (e.unsettled == Entry::Unsettled::No) return;
    struct stat st {};
    if (e.real.empty() || fstatat(dir_fd(d), e.real.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        e.unsettled = Entry::Unsettled::No;  // (gone: the next load drops it)
        return;
    }
    if (settle_entry(e, st)) mark_dirty(&d);
    if (backing) *backing = st;
}

std::optional<Location> Fs::locate(fuse_ino_t ino) {
    Node* n = node(ino);
    if (!n || n->detached) return std::nullopt;
    if (ino == FUSE_ROOT_ID) return Location{dir_fd(*n->dir), "", {}};
    if (n->link_id) {
        if (auto it = leaving_pool_.find(n->link_id); it != leaving_pool_.end()) {
            Node* d = node(it->second.first);
            if (d && d->dir) return Location{dir_fd(*d->dir), it->second.second, {}};
        }
        DirState* p = pool();
        Entry* pe = p ? p->find(link_name(n->link_id)) : nullptr;
        if (pe && pe->at_path) {
            // Under its primary name; in the middle of a move, where it
            // was until it is gone from there (link_groups.cpp).
            struct stat st {};
            for (const std::string* path : {&pe->real_prev, &pe->real}) {
                if (path->empty()) continue;
                auto at = open_parent_beneath(root_fd_.get(), *path);
                if (!at) continue;
                if (path == &pe->real_prev &&
                    fstatat(at->dir.get(), at->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
                    continue;
                const int fd = at->dir.get();
                return Location{fd, std::move(at->name), std::move(at->dir)};
            }
            return std::nullopt;
        }
        if (pe) return Location{dir_fd(*p), pe->real, {}};
    }
    Node* parent = node(n->parent);
    if (!parent || !parent->dir) return std::nullopt;
    Entry* e = parent->dir->find(n->name);
    if (!e || e->real.empty()) return std::nullopt;
    return Location{dir_fd(*parent->dir), e->real, {}};
}

std::string Fs::path_of(fuse_ino_t ino) {
    std::vector<const std::string*> names;
    for (const Node* n = node(ino); n && ino != FUSE_ROOT_ID; n = node(ino)) {
        names.push_back(&n->name);
        ino = n->parent;
    }
    std::string path;
    for (auto it = names.rbegin(); it != names.rend(); ++it) path += "/" + **it;
    return path.empty() ? "/" : path;
}

void Fs::log_lost_write(fuse_ino_t ino, int err) {
    std::string path;
    {
        std::lock_guard lk(mu_);
        path = path_of(ino);
    }
    log(
        fmt::format("{}: a write failed after write(2) had returned: {}; that data is not on the "
                    "stick",
                    path, std::strerror(err)));
}

void Fs::notice_passthrough_writes(fuse_ino_t ino, bool ours) {
    Node* n = node(ino);
    if (!n || !n->pt.writing()) return;
    struct stat b {};
    if (fstat(n->pt.handles.front().fd, &b) != 0) return;
    // Size and mtime: ctime also moves when this daemon renames the backing
    // (link(), rename()), which is no write.
    if (PassthroughUse::seen_of(b) == n->pt.seen) return;
    n->pt.seen = PassthroughUse::seen_of(b);
    if (ours) return;
    AttrRef a = attrs(ino);
    if (!a.entry) return;
    a.entry->mtime = a.entry->ctime = now_ts();
    mark_dirty(a.owner);
}

int Fs::stat_node(fuse_ino_t ino, struct stat* st) {
    notice_passthrough_writes(ino);
    // A first lookup settles the entry from its backing object: that stat
    // gives the size too (on vfat each stat reads the directory).
    std::optional<struct stat> settled;
    AttrRef a = attrs(ino, &settled);
    if (!a.entry) return ENOENT;
    const Entry& e = *a.entry;
    const Node* n = node(ino);
    *st = {};
    st->st_ino = n->st_ino;
    st->st_mode = type_bits(e.type) | (e.mode & 0777);
    st->st_nlink = n->detached ? 0 : (n->link_id ? e.nlink : 1);
    st->st_uid = opt_.uid;
    st->st_gid = opt_.gid;
    st->st_atim = {e.atime.sec, static_cast<long>(e.atime.nsec)};
    st->st_mtim = {e.mtime.sec, static_cast<long>(e.mtime.nsec)};
    st->st_ctim = {e.ctime.sec, static_cast<long>(e.ctime.nsec)};
    st->st_blksize = 4096;
    if (e.type == NodeType::Symlink) {
        st->st_size = static_cast<off_t>(e.target.size());
    } else if (e.type == NodeType::File || e.type == NodeType::Dir) {
        struct stat b {};
        if (settled) {
            b = *settled;
        } else if (auto loc = locate(ino)) {
            const int flags = AT_SYMLINK_NOFOLLOW | (loc->name.empty() ? AT_EMPTY_PATH : 0);
            if (fstatat(loc->dirfd, loc->name.c_str(), &b, flags) != 0) return errno;
        } else if (!n->open_fds.empty()) {
            // Unlinked but still open: the open file knows its size.
            if (fstat(n->open_fds.front(), &b) != 0) return errno;
        }
        // Writes still queued count (WriteBehind): the kernel takes this
        // size as the file's.
        st->st_size =
            std::max<off_t>(b.st_size, static_cast<off_t>(write_behind_.pending_end(ino)));
        st->st_blocks = b.st_blocks;
        if (b.st_blksize) st->st_blksize = b.st_blksize;
        if (e.type == NodeType::Dir && !n->detached) st->st_nlink = dir_nlink(ino, b.st_nlink);
    }
    return 0;
}

nlink_t Fs::dir_nlink(fuse_ino_t ino, nlink_t backing_nlink) {
    // A directory not loaded yet has not changed during this mount, so its
    // backing's count is what loading it would give, without the listing;
    // backings that do not count subdirectories (nlink 1) are listed, not
    // loaded (a reader holds no directory lock).
    Node* n = node(ino);
    if (n->dir) return 2 + n->dir->subdirs;
    if (backing_nlink >= 2) return backing_nlink;
    auto loc = locate(ino);
    if (!loc) return 1;
    UniqueFd fd(openat(loc->dirfd, loc->name.empty() ? "." : loc->name.c_str(),
                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    DIR* dir = fd ? fdopendir(fd.get()) : nullptr;
    if (!dir) return 1;
    (void)fd.release();
    nlink_t subdirs = 0;
    while (const dirent* de = readdir(dir)) {
        const std::string_view name = de->d_name;
        if (name == "." || name == ".." || is_reserved_backing_name(name)) continue;
        struct stat st {};
        if (de->d_type == DT_DIR ||
            (de->d_type == DT_UNKNOWN &&
             fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)))
            ++subdirs;
    }
    closedir(dir);
    return 2 + subdirs;
}

fuse_ino_t Fs::node_for(fuse_ino_t parent, const Entry& e) {
    if (e.linked()) {
        auto it = by_link_.find(e.link_id);
        if (it != by_link_.end()) return it->second;
        const fuse_ino_t ino = new_node(parent, e.name, e.link_id);
        by_link_[e.link_id] = ino;
        return ino;
    }
    auto key = std::make_pair(parent, e.name);
    auto it = by_name_.find(key);
    if (it != by_name_.end()) return it->second;
    const fuse_ino_t ino = new_node(parent, e.name, 0);
    by_name_.emplace(std::move(key), ino);
    return ino;
}

std::uint64_t Fs::listed_ino(fuse_ino_t parent, std::uint64_t key, const Entry& e) {
    if (e.linked()) {
        if (auto it = by_link_.find(e.link_id); it != by_link_.end())
            return node(it->second)->st_ino;
    } else if (auto it = by_name_.find({parent, e.name}); it != by_name_.end()) {
        return node(it->second)->st_ino;
    }
    const std::uint64_t v =
        e.linked() ? ino_of_link(e.link_id, 0) : ino_of_key(child_key(key, e.name), 0);
    // Taken: the node decides (the next attempt), and stat will agree.
    if (by_st_ino_.count(v)) return node(node_for(parent, e))->st_ino;
    return v;
}

fuse_ino_t Fs::new_node(fuse_ino_t parent, const std::string& name, std::uint64_t link_id) {
    const fuse_ino_t ino = next_ino_++;
    Node& n = nodes_[ino];
    n.parent = parent;
    n.name = name;
    n.link_id = link_id;
    const std::uint64_t key = link_id ? 0 : child_key(path_key(parent), name);
    for (unsigned attempt = 0;; ++attempt) {
        n.st_ino = link_id ? ino_of_link(link_id, attempt) : ino_of_key(key, attempt);
        if (by_st_ino_.emplace(n.st_ino, ino).second) break;
    }
    return ino;
}

void Fs::erase_node(fuse_ino_t ino) {
    auto it = nodes_.find(ino);
    if (it == nodes_.end()) return;
    by_st_ino_.erase(it->second.st_ino);
    nodes_.erase(it);
}

std::uint64_t Fs::path_key(fuse_ino_t dir) {
    // Current names, not those at the directory's lookup: a directory
    // renamed during this mount hands its new path to what is found in
    // it later, as the next mount will.
    std::vector<const std::string*> names;
    for (const Node* n = node(dir); n && dir != FUSE_ROOT_ID; n = node(dir)) {
        names.push_back(&n->name);
        dir = n->parent;
    }
    std::uint64_t key = root_key();
    for (auto it = names.rbegin(); it != names.rend(); ++it) key = child_key(key, **it);
    return key;
}

int Fs::fill_entry(fuse_ino_t parent, const Entry& e, fuse_entry_param* out) {
    *out = {};
    const fuse_ino_t ino = node_for(parent, e);
    if (int err = stat_node(ino, &out->attr)) return err;
    node(ino)->nlookup++;
    out->ino = ino;
    out->attr_timeout = 1.0;
    out->entry_timeout = 1.0;
    return 0;
}

void Fs::forget(fuse_ino_t ino, std::uint64_t count) {
    Node* n = node(ino);
    if (!n || ino == FUSE_ROOT_ID) return;
    n->nlookup -= std::min(n->nlookup, count);
    // Live nodes stay, so st_ino is stable for the whole mount; only
    // unlinked ones go once the kernel forgets them.
    if (n->nlookup == 0 && n->detached && n->open_fds.empty()) {
        if (n->dir) dirty_.erase(n->dir.get());
        erase_node(ino);
    }
}

void Fs::detach(fuse_ino_t parent, const std::string& name, const Entry& copy) {
    auto it = by_name_.find({parent, name});
    if (it == by_name_.end()) return;
    const fuse_ino_t ino = it->second;
    by_name_.erase(it);
    Node* n = node(ino);
    n->detached = true;
    n->detached_entry = std::make_unique<Entry>(copy);
    if (n->dir) {
        dirty_.erase(n->dir.get());
        fd_forget(n->dir.get());
        n->dir.reset();
    }
    if (n->nlookup == 0 && n->open_fds.empty()) erase_node(ino);
}

int Fs::dir_fd(DirState& d) {
    if (d.ino == 0 || d.ino == FUSE_ROOT_ID) return d.fd.get();  // the pool, the root: always open
    if (!d.fd) {
        const Node* n = node(d.ino);
        const Node* parent = n ? node(n->parent) : nullptr;
        const Entry* e = parent && parent->dir ? parent->dir->find(n->name) : nullptr;
        if (!e || e->real.empty()) {
            errno = ENOENT;
            return -1;
        }
        const int pfd = dir_fd(*parent->dir);
        d.fd.reset(openat(pfd, e->real.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!d.fd) return -1;
    }
    fd_used(&d);
    return d.fd.get();
}

void Fs::fd_used(DirState* d) {
    if (auto it = fd_lru_pos_.find(d); it != fd_lru_pos_.end()) {
        fd_lru_.splice(fd_lru_.begin(), fd_lru_, it->second);
        return;
    }
    fd_lru_.push_front(d);
    fd_lru_pos_[d] = fd_lru_.begin();
    // Over the bound: the least recently used that no lock holder pins.
    for (auto it = std::prev(fd_lru_.end()); fd_lru_.size() > kDirFds && it != fd_lru_.begin();) {
        DirState* old = *it;
        const Node* n = node(old->ino);
        auto prev = std::prev(it);
        if (!n || n->dir_pins == 0) {
            old->fd.reset();
            fd_lru_pos_.erase(old);
            fd_lru_.erase(it);
        }
        it = prev;
    }
}

void Fs::fd_forget(DirState* d) {
    if (auto it = fd_lru_pos_.find(d); it != fd_lru_pos_.end()) {
        fd_lru_.erase(it->second);
        fd_lru_pos_.erase(it);
    }
}

void Fs::rekey(fuse_ino_t parent, const std::string& name, fuse_ino_t newparent,
               const std::string& newname) {
    auto it = by_name_.find({parent, name});
    if (it == by_name_.end()) return;
    const fuse_ino_t ino = it->second;
    by_name_.erase(it);
    by_name_[{newparent, newname}] = ino;
    Node* n = node(ino);
    n->parent = newparent;
    n->name = newname;
}

void Fs::rekey_to_link(fuse_ino_t parent, const std::string& name, std::uint64_t id) {
    auto it = by_name_.find({parent, name});
    if (it == by_name_.end()) return;
    const fuse_ino_t ino = it->second;
    by_name_.erase(it);
    node(ino)->link_id = id;
    by_link_[id] = ino;
}

void Fs::swap_keys(fuse_ino_t parent, const std::string& a, const std::string& b) {
    auto ia = by_name_.find({parent, a});
    auto ib = by_name_.find({parent, b});
    const fuse_ino_t na = ia == by_name_.end() ? 0 : ia->second;
    const fuse_ino_t nb = ib == by_name_.end() ? 0 : ib->second;
    if (na) by_name_.erase({parent, a});
    if (nb) by_name_.erase({parent, b});
    if (na) {
        by_name_[{parent, b}] = na;
        node(na)->name = b;
    }
    if (nb) {
        by_name_[{parent, a}] = nb;
        node(nb)->name = a;
    }
}

void Fs::relink_hint(std::uint64_t id, fuse_ino_t parent, const std::string& name) {
    auto it = by_link_.find(id);
    if (it == by_link_.end()) return;
    Node* n = node(it->second);
    n->parent = parent;
    n->name = name;
}

int Fs::place_as(OpLocks& l, DirState& d, const Entry& e, const std::string& real,
                 const MakeBacking& make, bool sync, bool* make_failed) {
    Entry copy = e;
    copy.real = real;
    if (!sync) {
        if (const int err = make(dir_fd(d), real)) {
            *make_failed = true;
            return err;
        }
        d.add(std::move(copy));
        mark_dirty(&d);
        return 0;
    }
    // The entry reaches the stick before its backing object exists, so no
    // instant shows the object with reconcile's defaults (an unknown
    // backing file is 0644; a placeholder, a regular file) or under its
    // generated name. A crash in between leaves an entry without backing:
    // dropped. So does a case collision the backing reports: reconcile
    // matches backing names bytewise against the listing.
    d.add(std::move(copy));
    mark_dirty(&d);
    if (const int err = flush(l, &d)) {
        d.remove(e.name);
        return err;
    }
    const int err = make(dir_fd(d), real);
    if (err == 0) return 0;
    *make_failed = true;
    d.remove(e.name);
    mark_dirty(&d);
    return err;
}

int Fs::place_new(OpLocks& l, DirState& d, const Entry& e, const MakeBacking& make, bool sync) {
    if (!d.has_room_for(e)) return ENOSPC;  // an index the reader would refuse
    ++d.unsynced_names;  // (a failed create costs one needless directory sync, no more)
    bool make_failed = false;
    if (stored_as_itself(e.name) && !d.claimed.count(e.name)) {
        const int err = place_as(l, d, e, e.name, make, sync, &make_failed);
        if (err == 0 || !make_failed || !backing_refused_name(err)) {
            if (err && make_failed && sync)
                (void)flush(l, &d);  // best effort: failing, the next write drops it
            return err;
        }
        // The backing says it collides (FAT folds case) or cannot encode
        // it: generated name.
    }
    for (std::uint32_t attempt = 0; attempt < 64; ++attempt) {
        const std::string g = generated(e.name, attempt);
        if (d.claimed.count(g)) continue;
        // A synced create names `g` in the index before making it, so `g`
        // must be free on the backing first; a lazy one makes it first and
        // exclusively (EEXIST: the next attempt). vfat looks a name up by
        // reading the whole directory: one lookup less per create counts.
        struct stat st {};
        if (sync && fstatat(dir_fd(d), g.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) continue;
        make_failed = false;
        const int err = place_as(l, d, e, g, make, sync, &make_failed);
        if (err != EEXIST || !make_failed) return err;
    }
    return EEXIST;
}

int Fs::remove_name(OpLocks& l, fuse_ino_t parent, DirState& d, const std::string& name) {
    Entry* e = d.find(name);
    if (!e) return ENOENT;
    if (e->type == NodeType::Dir) return EISDIR;
    settle(d, *e);  // its times stay shown while it is open
    if (e->linked()) {
        if (!l.holds_pool()) return EDEADLK;  // the caller's mistake, never the user's
        const std::uint64_t id = e->link_id;
        bool data_gone = false;
        if (is_primary(parent, *e)) {
            if (group_at_path(id)->nlink > 1) {
                // Other names remain: the data moves to one of them.
                if (int err = group_leaves_primary(l, id, &d)) return err;
                if (!(e = d.find(name))) return ENOENT;  // (not while its lock is held)
            } else {
                // The group leaves the stick first: a crash before the
                // unlink leaves the name a plain file, and no group is
                // left whose path a later file could take.
                DirState* p = pool();
                const Entry group = *group_at_path(id);
                p->remove(group.name);
                mark_dirty(p);
                const int err = flush(l, p);
                p->add(group);  // (for the bookkeeping below)
                if (!(e = d.find(name))) return ENOENT;
                if (err) return err;
                if (unlinkat(dir_fd(d), e->real.c_str(), 0) != 0) {
                    mark_dirty(p);  // (the group is written back)
                    return errno;
                }
                data_gone = true;
            }
        }
        DirState* p = pool();
        Entry* pe = p ? p->find(link_name(id)) : nullptr;
        // A leftover of a move into or out of the pool (the pool has the
        // file; on FAT both entries share its clusters until fsck.vfat) is
        // never removed here: that would free them (section 7).
        if (!e->real.empty() && !data_gone && !pe) (void)unlinkat(dir_fd(d), e->real.c_str(), 0);
        d.remove(name);
        mark_dirty(&d);
        if (!pe) return 0;
        // The name leaves the stick before the count drops: a lazy write of
        // the count landing first would leave, after a crash, the name back
        // with a count one too low (an unlink would then drop the file
        // while a name remains).
        if (int err = flush(l, &d)) return err;
        if (!(pe = p->find(link_name(id)))) return 0;
        pe->nlink = pe->nlink > 0 ? pe->nlink - 1 : 0;
        pe->ctime = now_ts();
        mark_dirty(p);
        if (pe->nlink == 0) {
            // Failing, the pool file stays without a name: --check lists it.
            // (A group under a name lost that name's file above; a count too
            // low never deletes the file another name holds.)
            if (!pe->at_path) (void)unlinkat(dir_fd(*p), pe->real.c_str(), 0);
            const Entry copy = *pe;
            p->remove(copy.name);
            auto it = by_link_.find(id);
            if (it != by_link_.end()) {
                const fuse_ino_t ino = it->second;
                by_link_.erase(it);
                Node* n = node(ino);
                n->detached = true;
                n->detached_entry = std::make_unique<Entry>(copy);
                n->detached_entry->nlink = 0;
                if (n->nlookup == 0 && n->open_fds.empty()) erase_node(ino);
            }
        } else if (pe->nlink == 1) {
            unlink_last_but_one(l, id, &d);
            // (Its one name's directory lock was busy: the mover tries again.)
            if ((pe = p->find(link_name(id))) && !pe->at_path && out_queue_.insert(id).second)
                mover_cv_.notify_one();
        }
        return 0;
    }
    if (unlinkat(dir_fd(d), e->real.c_str(), 0) != 0) return errno;
    const Entry copy = *e;
    d.remove(name);
    mark_dirty(&d);
    detach(parent, name, copy);
    return 0;
}

fuse_ino_t Fs::last_other_name_dir(std::uint64_t id, fuse_ino_t parent, const std::string& name) {
    DirState* p = pool();
    const Entry* pe = p ? p->find(link_name(id)) : nullptr;
    if (!pe || pe->nlink != 2) return 0;
    fuse_ino_t found = 0;
    for (auto& [ino, n] : nodes_) {
        if (!n.dir || n.detached) continue;
        for (auto& [ename, e] : n.dir->entries) {
            if (e.link_id != id || (ino == parent && ename == name)) continue;
            if (found) return 0;
            found = ino;
        }
    }
    return found;
}

void Fs::unlink_last_but_one(OpLocks& l, std::uint64_t id, DirState* from) {
    // Find the one name left among the loaded directories (git's link +
    // unlink of every object lands here with both directories loaded).
    DirState* p = pool();
    Entry* pe = p ? p->find(link_name(id)) : nullptr;
    if (!pe) return;
    fuse_ino_t dir_ino = 0;
    DirState* d = nullptr;
    std::string name;
    for (auto& [ino, n] : nodes_) {
        if (!n.dir || n.detached) continue;
        for (auto& [ename, e] : n.dir->entries) {
            if (e.link_id != id) continue;
            if (d) return;  // more names than the count says: leave it to --check
            dir_ino = ino;
            d = n.dir.get();
            name = ename;
        }
    }
    if (d && pe->at_path) return last_name_in_place(l, id, dir_ino, d, name, from);
    if (!d) return;
    // Its directory lock: unlink takes it in order (last_other_name_dir);
    // others try, out of order: if taken, the move waits for the next
    // unlink that leaves one name.
    if (!l.holds(dir_ino) && !l.try_add(dir_ino, dir_mutex(dir_ino))) return;
    // Under the name itself, or a generated one if FAT cannot hold it, as
    // for any file.
    const auto real = free_backing_name(*this, *d, name);
    if (!real) return;
    // 1. The name gets its backing name (and the inode's attributes) while
    //    still linked: written at once. 2. The file moves out of the pool.
    //    3. The entry becomes a plain one; the pool entry goes (lazily).
    // A crash after 1 resolves through the pool; after 2, reconcile finds the
    // pool file gone and the name's backing present: a plain file.
    Entry moved = *pe;
    moved.name = name;
    moved.real = *real;
    moved.link_id = id;
    moved.nlink = 1;
    d->remove(name);
    d->add(moved);
    mark_dirty(d);
    if (flush(l, d) != 0 ||
        renameat2(dir_fd(*p), pe->real.c_str(), dir_fd(*d), real->c_str(), RENAME_NOREPLACE) != 0) {
        moved.real.clear();
        d->remove(name);
        d->add(moved);
        mark_dirty(d);
        return;
    }
    // vfat renames are two directory writes: the new entry (with the file,
    // which carries its clusters, and its directory, which holds its long
    // name) reaches the stick first, then the pool's removal; until the
    // latter, the pool entry would share the file's clusters (fsck damage).
    const int dfd = dir_fd(*d);  // (pinned: its directory lock is held)
    leaving_pool_[id] = {dir_ino, *real};
    (void)sync_moved(*this, l, dfd, *real, p->fd.get(),
                     "moving a file out of the link pool");  // (logged)
    leaving_pool_.erase(id);
    // (Attributes changed meanwhile went to the pool's entry: they stay.)
    const Entry* now = p->find(link_name(id));
    Entry plain = now ? *now : moved;
    plain.name = name;
    plain.real = *real;
    plain.link_id = 0;
    plain.nlink = 1;
    plain.at_path = false;
    plain.real_prev.clear();
    d->remove(name);
    d->add(plain);
    note_renamed(d, *real);
    mark_dirty(d);
    p->remove(link_name(id));
    mark_dirty(p);
    node_leaves_group(id, dir_ino, name);
}

void Fs::node_leaves_group(std::uint64_t id, fuse_ino_t dir_ino, const std::string& name) {
    auto it = by_link_.find(id);
    if (it == by_link_.end()) return;
    const fuse_ino_t ino = it->second;
    by_link_.erase(it);
    Node* n = node(ino);
    n->link_id = 0;
    n->parent = dir_ino;
    n->name = name;
    by_name_[{dir_ino, name}] = ino;
}

void Fs::last_name_in_place(OpLocks& l, std::uint64_t id, fuse_ino_t dir_ino, DirState* d,
                            const std::string& name, DirState* from) {
    DirState* p = pool();
    const Entry linked = *d->find(name);
    // Its data is here (or, not being the primary, some other name still
    // holds it, and --check will say so): the name becomes a plain file,
    // written at once; the pool's entry goes lazily (a crash before leaves
    // a group no name refers to, which changes nothing shown).
    if (!is_primary(dir_ino, linked) ||
        (!l.holds(dir_ino) && !l.try_add(dir_ino, dir_mutex(dir_ino))))
        return;
    // 1. The name that went is off the stick (after a crash it must not come
    // back beside a plain file holding its data); 2. the primary's entry
    // gets the group's attributes, still linked; 3. the group goes; 4. the
    // entry is plain (lazily). After 3 a linked name whose group is missing
    // and whose file is there is a plain file (section 5), so no group is
    // ever left whose path a later file could take.
    if (from && from != d && flush(l, from) != 0) return;
    const Entry group = *p->find(link_name(id));
    Entry plain = group;
    plain.name = name;
    plain.real = linked.real;
    plain.link_id = id;
    plain.nlink = 1;
    plain.at_path = false;
    plain.real_prev.clear();
    d->remove(name);
    d->add(plain);
    mark_dirty(d);
    if (flush(l, d) != 0) {
        d->remove(name);
        d->add(linked);
        mark_dirty(d);
        return;
    }
    p->remove(group.name);
    mark_dirty(p);
    if (flush(l, p) != 0) {
        p->add(group);
        mark_dirty(p);
        return;
    }
    plain.link_id = 0;
    d->remove(name);
    d->add(plain);
    mark_dirty(d);
    node_leaves_group(id, dir_ino, name);
}

void Fs::mark_dirty(DirState* d, bool atime_only) {
    if (!d) return;
    if (atime_only)
        d->atime_dirty = true;
    else
        d->dirty = true;
    dirty_.insert(d);
}

void Fs::touch_dir(fuse_ino_t dir) {
    AttrRef a = attrs(dir);
    if (!a.entry) return;
    a.entry->mtime = a.entry->ctime = now_ts();
    mark_dirty(a.owner);
}

void Fs::note_renamed(DirState* d, const std::string& real) {
    if (!d) return;
    d->renamed_in.push_back(real);
    ++d->unsynced_names;
    dirty_.insert(d);
}

int Fs::run_job(IndexJob& job) {
    IndexStats s;
    const int err = run_index_job(job, &s, &alloc_);
    index_writes_ += s.writes;
    index_bytes_ += s.bytes;
    if (err) log(std::string("index write failed: ") + std::strerror(err));
    return err;
}

void Fs::redirty(IndexJob& job) {
    // Rare (a failing stick): a scan of the loaded directories is fine.
    const IndexWriter* w = job.writer.get();
    DirState* d = nullptr;
    if (pool_ && pool_->writer.get() == w) d = pool_.get();
    for (auto& [ino, n] : nodes_) {
        if (d) break;
        if (n.dir && n.dir->writer.get() == w) d = n.dir.get();
    }
    if (!d) return;  // dropped meanwhile: nothing left to write
    restore_after_failure(*d);
    dirty_.insert(d);
}

int Fs::flush(OpLocks& l, DirState* d) {
    if (!d) return 0;
    if (opt_.read_only) {
        if (!(d->dirty || d->atime_dirty)) dirty_.erase(d);
        return 0;
    }
    bool write = d->dirty || d->atime_dirty;
    // A snapshot taken before may still be on its way (perhaps waiting for
    // alloc_, or in a slow fsync): write a fresh one rather than wait.
    if (!write && d->seq != 0) write = d->writer->landed < d->seq;
    if (write || !d->renamed_in.empty()) {
        IndexJob job = snapshot(l.mu(), *d, write);
        dirty_.erase(d);
        // Only this directory's lock is held meanwhile: d stays, other
        // directories go on.
        if (int err = l.index_io([&] { return run_job(job); })) {
            restore_after_failure(*d);
            dirty_.insert(d);
            return err;
        }
        // Changed again while the write ran: still due.
        if (d->dirty || d->atime_dirty || !d->renamed_in.empty()) dirty_.insert(d);
        return 0;
    }
    dirty_.erase(d);
    return 0;
}

int Fs::flush_released(std::unique_lock<std::mutex>& lk, DirState* d, bool sync_dir) {
    if (!d || opt_.read_only) return 0;
    IndexJob job = snapshot(lk, *d, d->dirty || d->atime_dirty);
    job.sync_dir = sync_dir;
    const std::uint64_t target = d->seq;  // ours, or the newest taken before
    dirty_.erase(d);
    lk.unlock();
    int err = run_job(job);
    if (!err && target) err = wait_landed(*job.writer, target);
    lk.lock();
    if (err) redirty(job);
    // (A file's fsync does not answer for its renamed siblings.)
    return err ? err : (sync_dir ? job.sync_error : 0);
}

IndexJob Fs::snapshot(std::unique_lock<std::mutex>& lk, DirState& d, bool payload) {
    if (payload) settle_all(lk, d);
    (void)dir_fd(d);  // open for the job's dup (a failure is the job's error)
    // A directory of many thousand entries takes a while to serialize:
    // mu_ is let go now and then (the caller's directory lock keeps the
    // entries themselves).
    return prepare_index_job(d, payload, [&lk] {
        lk.unlock();
        std::this_thread::yield();
        lk.lock();
    });
}

void Fs::settle_all(std::unique_lock<std::mutex>& lk, DirState& d) {
    // The backing's times of entries a lazy load left unsettled, looked up
    // without mu_ (cold inodes: reads from the stick).
    std::vector<std::pair<std::string, std::string>> todo;  // name, backing name
    for (const auto& [name, e] : d.entries)
        if (e.unsettled != Entry::Unsettled::No) todo.emplace_back(name, e.real);
    if (todo.empty()) return;
    std::vector<std::optional<struct stat>> found(todo.size());
    const int dfd = dir_fd(d);  // (pinned: the caller holds its directory lock)
    lk.unlock();
    for (std::size_t i = 0; i < todo.size(); ++i) {
        struct stat st {};
        if (!todo[i].second.empty() &&
            fstatat(dfd, todo[i].second.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
            found[i] = st;
    }
    lk.lock();
    for (std::size_t i = 0; i < todo.size(); ++i) {
        Entry* e = d.find(todo[i].first);
        if (!e || e->unsettled == Entry::Unsettled::No || e->real != todo[i].second) continue;
        if (!found[i])
            e->unsettled = Entry::Unsettled::No;
        else if (settle_entry(*e, *found[i]))
            d.dirty = true;
    }
}

void Fs::write_back(std::unique_lock<std::mutex>& lk, bool all) {
    // Each directory due: its snapshot under its directory lock (and mu_,
    // let go now and then), its write (fsyncs: slow on a stick) under its
    // writer's lock and alloc_ alone.
    std::vector<std::pair<std::uint64_t, std::shared_ptr<std::mutex>>> due;
    for (DirState* d : dirty_)
        if (all || d->dirty || !d->renamed_in.empty())
            due.emplace_back(d->ino, d->ino ? dir_mutex(d->ino) : pool_mu_);
    lk.unlock();
    for (auto& [ino, m] : due) {
        if (!m) continue;
        std::unique_lock dl(*m);
        lk.lock();
        // Gone meanwhile (rmdir), or written by someone else.
        DirState* d = ino ? loaded_dir(ino) : pool_.get();
        if (!d || !dirty_.count(d) || !(all || d->dirty || !d->renamed_in.empty())) {
            lk.unlock();
            continue;
        }
        Node* n = ino ? node(ino) : nullptr;
        if (n) ++n->dir_pins;  // its fd is used without mu_ (settle_all)
        IndexJob job = snapshot(lk, *d, d->dirty || d->atime_dirty);
        if ((n = ino ? node(ino) : nullptr)) --n->dir_pins;
        if (!d->dirty && !d->atime_dirty && d->renamed_in.empty()) dirty_.erase(d);
        lk.unlock();
        dl.unlock();
        if (run_job(job) != 0) {
            lk.lock();
            redirty(job);
            lk.unlock();
        }
    }
    lk.lock();
}

void Fs::flush_all() {
    std::unique_lock lk(mu_);
    notice_all_passthrough_writes();
    if (!opt_.read_only) write_back(lk, true);
}

void Fs::notice_all_passthrough_writes() {
    if (!passthrough_.wanted()) return;
    for (auto& [ino, n] : nodes_)
        if (n.pt.writing()) notice_passthrough_writes(ino);
}

void Fs::start_flusher() {
    mover_ = std::thread([this] { run_mover(); });
    flusher_ = std::thread([this] {
        std::unique_lock lk(mu_);
        while (!stopping_) {
            stop_cv_.wait_for(lk, std::chrono::seconds(opt_.flush_seconds));
            if (stopping_) break;
            if (opt_.read_only) continue;
            notice_all_passthrough_writes();
            // At most one write per directory per interval; atime-only
            // changes never force one.
            write_back(lk, false);
        }
    });
}

void Fs::stop_flusher() {
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
    }
    stop_cv_.notify_all();
    mover_cv_.notify_all();
    if (flusher_.joinable()) flusher_.join();
    if (mover_.joinable()) mover_.join();
}

}  // namespace pershome::fs
