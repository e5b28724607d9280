// opendir, readdir, releasedir, fsyncdir. A directory handle holds a
// snapshot of the names taken at its first readdir (again at a rewind), so
// offsets stay meaningful while the directory changes. The kernel keeps
// what readdir answered (cache_readdir) until the directory changes, so a
// second walk costs an opendir per directory and no listing.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <thread>
#include <vector>

#include "fs/ops.hpp"

namespace pershome::fs::ops {

namespace {

DirHandle* handle(fuse_file_info* fi) {
    return reinterpret_cast<DirHandle*>(fi->fh);
}

// The names of directory `ino` (`d`), with mu_ let go between chunks (a
// directory of many thousand names takes a while): the directory lock in
// `l` keeps its entries.
std::vector<DirHandle::Item> snapshot_names(Fs& fs, OpLocks& l, fuse_ino_t ino, const DirState& d) {
    std::vector<DirHandle::Item> items;
    items.reserve(d.entries.size() + 2);
    const Node* n = fs.node(ino);
    items.push_back({".", n->st_ino, S_IFDIR});
    const Node* up = ino == FUSE_ROOT_ID ? n : fs.node(n->parent);
    items.push_back({"..", up ? up->st_ino : n->st_ino, S_IFDIR});
    const std::uint64_t key = fs.path_key(ino);
    std::size_t count = 0;
    for (const auto& [name, e] : d.entries) {
        if (++count % kSnapshotChunk == 0) l.unlocked([] { std::this_thread::yield(); });
        items.push_back({name, fs.listed_ino(ino, key, e), fs.type_bits(e.type)});
    }
    return items;
}

}  // namespace

void opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    auto& fs = fs_of(req);
    DirHandle* kept = nullptr;
    {
        OpLocks l(fs, {ino}, false, false);
        int err = 0;
        if (!fs.dir_of(l, ino, &err)) return (void)fuse_reply_err(req, err);
        kept = fs.keep_dir_handle(std::make_unique<DirHandle>());
    }
    fi->fh = reinterpret_cast<uint64_t>(kept);
    // Every change to a directory comes through the kernel, which then
    // drops what it kept of the listing.
    fi->cache_readdir = 1;
    fi->keep_cache = 1;
    // A reply that fails (the opendir was interrupted) gets no RELEASEDIR.
    if (fuse_reply_open(req, fi) != 0) {
        std::lock_guard lk(fs.mutex());
        fs.drop_dir_handle(kept);
    }
}

void readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
    auto& fs = fs_of(req);
    DirHandle* h = handle(fi);
    if (off == 0) {
        OpLocks l(fs, {ino}, false, false);
        int err = 0;
        const DirState* d = fs.dir_of(l, ino, &err);
        if (!d && err != ENOENT) return (void)fuse_reply_err(req, err);
        // (Removed since opendir: no names, as POSIX has it.)
        auto items = d ? snapshot_names(fs, l, ino, *d) : std::vector<DirHandle::Item>{};
        h->items.swap(items);  // (mu_ held: a concurrent read of the handle sees either)
    }
    std::vector<char> buf(size);
    size_t used = 0;
    // The kernel may read one handle from two threads at once (filling its
    // cache): the items change under mu_ only.
    std::lock_guard lk(fs.mutex());
    for (size_t i = static_cast<size_t>(off); i < h->items.size(); ++i) {
        const auto& it = h->items[i];
        struct stat st {};
        st.st_ino = it.st_ino;
        st.st_mode = it.type;
        const size_t need = fuse_add_direntry(req, buf.data() + used, size - used, it.name.c_str(),
                                              &st, static_cast<off_t>(i + 1));
        if (need > size - used) break;
        used += need;
    }
    fuse_reply_buf(req, buf.data(), used);
}

void releasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    (void)ino;
    {
        auto& fs = fs_of(req);
        std::lock_guard lk(fs.mutex());
        fs.drop_dir_handle(handle(fi));
    }
    fuse_reply_err(req, 0);
}

void fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
    (void)datasync;
    (void)fi;
    auto& fs = fs_of(req);
    OpLocks l(fs, {ino}, false, false);
    int err = 0;
    DirState* d = fs.dir_of(l, ino, &err);
    if (!d) return (void)fuse_reply_err(req, err);
    // Files renamed into it (vfat needs their own write-back), then the
    // backing directory's own entries (names created, removed), then the
    // index: all without holding the mutex (a stick's fsync is slow).
    err = fs.flush_released(l.mu(), d, true);
    l.mu().unlock();
    fuse_reply_err(req, err);
}

}  // namespace pershome::fs::ops
