#include <cstring>

#include "fs/name_codec.hpp"
#include "fs/ops.hpp"

namespace pershome::fs::ops {

void lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    auto& fs = fs_of(req);
    if (std::strlen(name) > 255) return (void)fuse_reply_err(req, ENAMETOOLONG);
    auto answer = [&](DirState* d) {
        const Entry* e = d->find(name);
        if (!e) return (void)fuse_reply_err(req, ENOENT);
        fuse_entry_param ep;
        if (int err = fs.fill_entry(parent, *e, &ep)) return (void)fuse_reply_err(req, err);
        fuse_reply_entry(req, &ep);
    };
    {
        // A loaded directory answers under mu_ alone.
        std::lock_guard lk(fs.mutex());
        if (DirState* d = fs.loaded_dir(parent)) return answer(d);
    }
    // Its first use loads it, holding its own lock only.
    OpLocks l(fs, {parent}, false, false);
    int err = 0;
    DirState* d = fs.dir_of(l, parent, &err);
    if (!d) return (void)fuse_reply_err(req, err);
    answer(d);
}

void forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
    auto& fs = fs_of(req);
    {
        std::lock_guard lk(fs.mutex());
        fs.forget(ino, nlookup);
    }
    fuse_reply_none(req);
}

void forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
    auto& fs = fs_of(req);
    {
        std::lock_guard lk(fs.mutex());
        for (size_t i = 0; i < count; ++i) fs.forget(forgets[i].ino, forgets[i].nlookup);
    }
    fuse_reply_none(req);
}

}  // namespace pershome::fs::ops
