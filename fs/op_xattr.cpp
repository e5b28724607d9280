// user.* extended attributes, kept in the index entry. Other namespaces
// (security, trusted, system) are not stored on a stick anyone can edit.
#include <sys/xattr.h>

#include <cstring>

#include "fs/ops.hpp"

namespace pershome::fs::ops {

namespace {

bool user_name(const char* name) {
    return std::strncmp(name, "user.", 5) == 0 && name[5] != '\0';
}

}  // namespace

void setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
              int flags) {
    auto& fs = fs_of(req);
    if (fs.opt().read_only) return (void)fuse_reply_err(req, EROFS);
    if (!user_name(name)) return (void)fuse_reply_err(req, EOPNOTSUPP);
    if (std::strlen(name) > kMaxXattrName) return (void)fuse_reply_err(req, ERANGE);
    if (size > kMaxXattrValue) return (void)fuse_reply_err(req, E2BIG);
    std::lock_guard lk(fs.mutex());
    AttrRef a = fs.attrs(ino);
    if (!a.entry) return (void)fuse_reply_err(req, ENOENT);
    auto& x = a.entry->xattrs;
    auto it = x.find(name);
    if ((flags & XATTR_CREATE) && it != x.end()) return (void)fuse_reply_err(req, EEXIST);
    if ((flags & XATTR_REPLACE) && it == x.end()) return (void)fuse_reply_err(req, ENODATA);
    std::size_t total = std::strlen(name) + size;
    for (const auto& [k, v] : x)
        if (k != name) total += k.size() + v.size();
    if (total > kMaxXattrTotal) return (void)fuse_reply_err(req, ENOSPC);
    // The directory's index must stay one the reader accepts.
    const std::uint64_t old_bytes = index_bytes(*a.entry);
    const std::uint64_t grows = std::strlen(name) + size + 8;
    if (a.owner && a.owner->bytes - old_bytes + (old_bytes + grows) > kIndexBudget)
        return (void)fuse_reply_err(req, ENOSPC);
    x[name] = std::string(value, size);
    if (a.owner) a.owner->bytes += index_bytes(*a.entry) - old_bytes;
    a.entry->ctime = now_ts();
    fs.mark_dirty(a.owner);
    fuse_reply_err(req, 0);
}

void getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
    auto& fs = fs_of(req);
    std::lock_guard lk(fs.mutex());
    AttrRef a = fs.attrs(ino);
    if (!a.entry) return (void)fuse_reply_err(req, ENOENT);
    auto it = a.entry->xattrs.find(name);
    if (it == a.entry->xattrs.end()) return (void)fuse_reply_err(req, ENODATA);
    if (size == 0) return (void)fuse_reply_xattr(req, it->second.size());
    if (size < it->second.size()) return (void)fuse_reply_err(req, ERANGE);
    fuse_reply_buf(req, it->second.data(), it->second.size());
}

void listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
    auto& fs = fs_of(req);
    std::lock_guard lk(fs.mutex());
    AttrRef a = fs.attrs(ino);
    if (!a.entry) return (void)fuse_reply_err(req, ENOENT);
    std::string names;
    for (const auto& [k, v] : a.entry->xattrs) {
        names += k;
        names.push_back('\0');
    }
    if (size == 0) return (void)fuse_reply_xattr(req, names.size());
    if (size < names.size()) return (void)fuse_reply_err(req, ERANGE);
    fuse_reply_buf(req, names.data(), names.size());
}

void removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
    auto& fs = fs_of(req);
    if (fs.opt().read_only) return (void)fuse_reply_err(req, EROFS);
    std::lock_guard lk(fs.mutex());
    AttrRef a = fs.attrs(ino);
    if (!a.entry) return (void)fuse_reply_err(req, ENOENT);
    const std::uint64_t old_bytes = index_bytes(*a.entry);
    if (a.entry->xattrs.erase(name) == 0) return (void)fuse_reply_err(req, ENODATA);
    if (a.owner) a.owner->bytes -= old_bytes - index_bytes(*a.entry);
    a.entry->ctime = now_ts();
    fs.mark_dirty(a.owner);
    fuse_reply_err(req, 0);
}

}  // namespace pershome::fs::ops
