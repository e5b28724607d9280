// opendir, readdir(plus), releasedir, fsyncdir. A directory handle holds a
// snapshot of the names taken at opendir, so offsets stay meaningful while
// the directory changes.
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

void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
                bool plus) {
    auto& fs = fs_of(req);
    DirHandle* h = handle(fi);
    std::vector<char> buf(size);
    size_t used = 0;
    std::lock_guard lk(fs.mutex());
    DirState* d = fs.loaded_dir(ino);  // (opendir loaded it; null once removed)
    for (size_t i = static_cast<size_t>(off); i < h->items.size(); ++i) {
        const auto& it = h->items[i];
        const off_t next = static_cast<off_t>(i + 1);
        size_t need;
        if (!plus) {
            struct stat st {};
            st.st_ino = it.st_ino;
            st.st_mode = it.type;
            need =
                fuse_add_direntry(req, buf.data() + used, size - used, it.name.c_str(), &st, next);
        } else {
            fuse_entry_param ep{};
            const Entry* e = nullptr;
            if (it.name != "." && it.name != ".." && d) e = d->find(it.name);
            if (e) {
                if (fs.fill_entry(ino, *e, &ep) != 0) continue;
            } else if (it.name == "." || it.name == "..") {
                ep.attr.st_ino = it.st_ino;
                ep.attr.st_mode = it.type;  // no lookup is counted for these
            } else {
                continue;  // removed since opendir
            }
            need = fuse_add_direntry_plus(req, buf.data() + used, size - used, it.name.c_str(), &ep,
                                          next);
            if (need > size - used && e) fs.forget(ep.ino, 1);
        }
        if (need > size - used) break;
        used += need;
    }
    fuse_reply_buf(req, buf.data(), used);
}

}  // namespace

void opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    auto& fs = fs_of(req);
    auto h = std::make_unique<DirHandle>();
    DirHandle* kept = nullptr;
    {
        // Its lock keeps the entries while mu_ is let go between chunks (a
        // directory of many thousand names takes a while).
        OpLocks l(fs, {ino}, false, false);
        int err = 0;
        DirState* d = fs.dir_of(l, ino, &err);
        if (!d) return (void)fuse_reply_err(req, err);
        const Node* n = fs.node(ino);
        h->items.push_back({".", n->st_ino, S_IFDIR});
        const Node* up = ino == FUSE_ROOT_ID ? n : fs.node(n->parent);
        h->items.push_back({"..", up ? up->st_ino : n->st_ino, S_IFDIR});
        h->items.reserve(d->entries.size() + 2);
        std::size_t count = 0;
        for (const auto& [name, e] : d->entries) {
            if (++count % kSnapshotChunk == 0) l.unlocked([] { std::this_thread::yield(); });
            h->items.push_back({name, fs.node(fs.node_for(ino, e))->st_ino, fs.type_bits(e.type)});
        }
        kept = fs.keep_dir_handle(std::move(h));
    }
    fi->fh = reinterpret_cast<uint64_t>(kept);
    fi->cache_readdir = 0;
    // A reply that fails (the opendir was interrupted) gets no RELEASEDIR.
    if (fuse_reply_open(req, fi) != 0) {
        std::lock_guard lk(fs.mutex());
        fs.drop_dir_handle(kept);
    }
}

void readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
    do_readdir(req, ino, size, off, fi, false);
}

void readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
    do_readdir(req, ino, size, off, fi, true);
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
