#include <sys/statvfs.h>

#include "fs/ops.hpp"

namespace pershome::fs::ops {

void getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    (void)fi;
    auto& fs = fs_of(req);
    std::lock_guard lk(fs.mutex());
    struct stat st;
    if (int err = fs.stat_node(ino, &st)) return (void)fuse_reply_err(req, err);
    fuse_reply_attr(req, &st, 1.0);
}

void readlink(fuse_req_t req, fuse_ino_t ino) {
    auto& fs = fs_of(req);
    std::lock_guard lk(fs.mutex());
    AttrRef a = fs.attrs(ino);
    if (!a.entry) return (void)fuse_reply_err(req, ENOENT);
    if (a.entry->type != NodeType::Symlink) return (void)fuse_reply_err(req, EINVAL);
    fuse_reply_readlink(req, a.entry->target.c_str());
}

void statfs(fuse_req_t req, fuse_ino_t ino) {
    auto& fs = fs_of(req);
    struct statvfs sv {};
    int fd;
    {
        std::lock_guard lk(fs.mutex());
        auto loc = fs.locate(FUSE_ROOT_ID);
        (void)ino;
        fd = loc->dirfd;
        if (fstatvfs(fd, &sv) != 0) return (void)fuse_reply_err(req, errno);
    }
    sv.f_namemax = 255;
    fuse_reply_statfs(req, &sv);
}

}  // namespace pershome::fs::ops
