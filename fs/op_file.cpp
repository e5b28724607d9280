// open, read, write, flush, release, fsync, fallocate: data goes to the
// backing file whose fd the file handle holds, large writes by way of
// WriteBehind.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <shared_mutex>
#include <vector>

#include "fs/ops.hpp"

namespace pershome::fs::ops {

namespace {

// Whether the open of `fd` (already in n.open_fds) passes through
// (passthrough.hpp): its backing id, or 0 for I/O by way of this daemon.
int passthrough_for(Fs& fs, Node& n, int fd, bool writes, bool writer) {
    if (n.pt.handles.empty()) {
        // Only readers start it: written by way of the daemon, a file keeps
        // write-time mtimes to the nanosecond, EFBIG at 4 GiB and WriteBehind.
        const bool others_cached = n.open_fds.size() > 1;
        if (writes || others_cached || !fs.passthrough().enabled()) return 0;
        n.pt.backing_id = fs.passthrough().open_backing(fd);
        if (n.pt.backing_id == 0) return 0;
    }
    // Once one handle passes through, the kernel fails any open of the
    // inode that does not, writers included.
    struct stat st {};
    if (writer && !n.pt.writing() && fstat(fd, &st) == 0) n.pt.seen = PassthroughUse::seen_of(st);
    n.pt.handles.push_back({fd, writer});
    return n.pt.backing_id;
}

void end_passthrough(Fs& fs, fuse_ino_t ino, Node& n, int fd) {
    auto it = std::find_if(n.pt.handles.begin(), n.pt.handles.end(),
                           [fd](const PassthroughUse::Handle& h) { return h.fd == fd; });
    if (it == n.pt.handles.end()) return;
    if (it->writer) fs.notice_passthrough_writes(ino);
    n.pt.handles.erase(it);
    if (n.pt.handles.empty()) {
        // The kernel dropped its own reference before sending RELEASE.
        fs.passthrough().close_backing(n.pt.backing_id);
        n.pt.backing_id = 0;
    }
}

}  // namespace

void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    auto& fs = fs_of(req);
    const int acc = fi->flags & O_ACCMODE;
    if (fs.opt().read_only && (acc != O_RDONLY || (fi->flags & O_TRUNC)))
        return (void)fuse_reply_err(req, EROFS);
    // A truncate comes after the writes queued before it.
    if (fi->flags & O_TRUNC) fs.write_behind().drain(ino);
    const bool writes = acc != O_RDONLY || (fi->flags & O_TRUNC);
    UniqueFd fd;
    int backing_id = 0;
    {
        // Opening to write or truncate changes the backing: see BackingAllocLock.
        std::shared_lock<BackingAllocLock> alloc;
        if (writes) alloc = std::shared_lock(fs.alloc_lock());
        std::lock_guard lk(fs.mutex());
        AttrRef a = fs.attrs(ino);
        if (!a.entry) return (void)fuse_reply_err(req, ENOENT);
        if (a.entry->type == NodeType::Dir) return (void)fuse_reply_err(req, EISDIR);
        if (a.entry->type != NodeType::File) return (void)fuse_reply_err(req, ENXIO);
        auto loc = fs.locate(ino);
        if (!loc) return (void)fuse_reply_err(req, ENOENT);
        const int flags = (fi->flags & ~(O_CREAT | O_EXCL | O_NOCTTY)) | O_NOFOLLOW | O_CLOEXEC;
        fd.reset(openat(loc->dirfd, loc->name.c_str(), flags));
        if (!fd) return (void)fuse_reply_err(req, errno);
        if (fi->flags & O_TRUNC) {
            a.entry->mtime = a.entry->ctime = now_ts();
            fs.mark_dirty(a.owner);
        }
        Node& n = *fs.node(ino);
        n.open_fds.push_back(fd.get());
        backing_id = passthrough_for(fs, n, fd.get(), writes, acc != O_RDONLY);
    }
    fi->fh = static_cast<uint64_t>(fd.get());
    fi->noflush = 1;
    fs.write_behind().opened(fd.get(), ino);
    // A reply that fails (the open was interrupted) gets no RELEASE.
    const int sent =
        backing_id ? fs.passthrough().reply_open(req, fi, backing_id) : fuse_reply_open(req, fi);
    if (sent == 0) {
        (void)fd.release();
        return;
    }
    (void)fs.write_behind().closed(fd.get());  // nothing was written through it yet
    std::lock_guard lk(fs.mutex());
    if (Node* n = fs.node(ino)) {
        end_passthrough(fs, ino, *n, fd.get());
        std::erase(n->open_fds, fd.get());
    }
}

void read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
    Fs& fs = fs_of(req);
    fs.write_behind().drain(ino);
    fs.count_read(size);
    fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
    buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    buf.buf[0].fd = static_cast<int>(fi->fh);
    buf.buf[0].pos = off;
    // Spliced, but not moved: SPLICE_F_MOVE makes the kernel try to steal
    // each page out of the backing's page cache, which measured slower
    // (cold 1 GiB read, 16 interleaved rounds: median 0.31 s copied vs
    // 0.34 s moved).
    fuse_reply_data(req, &buf, static_cast<fuse_buf_copy_flags>(0));
}

void write_buf(fuse_req_t req, fuse_ino_t ino, fuse_bufvec* in, off_t off, fuse_file_info* fi) {
    auto& fs = fs_of(req);
    const size_t size = fuse_buf_size(in);
    // FAT stores sizes in 32 bits: say so instead of wrapping.
    if (off < 0 || static_cast<std::uint64_t>(off) + size > kFatMaxFileSize)
        return (void)fuse_reply_err(req, EFBIG);
    WriteBehind& wb = fs.write_behind();
    const int fd = static_cast<int>(fi->fh);
    if (int err = wb.check(fd)) return (void)fuse_reply_err(req, err);
    // Data in a pipe can be queued (WriteBehind); a synchronous or direct
    // write, or one the backing opened for appending, is written here (an
    // O_DIRECT request's pipe may even point at the writer's own memory).
    std::size_t taken = 0;
    if (in->count == 1 && (in->buf[0].flags & FUSE_BUF_IS_FD) &&
        !(fi->flags & (O_APPEND | O_SYNC | O_DSYNC | O_DIRECT)))
        taken = wb.submit(ino, fd, in->buf[0].fd, size, off);
    if (taken < size) {
        wb.drain(ino);  // what was queued lands first
        fuse_bufvec rest = *in;
        if (taken > 0) rest.buf[0].size = size - taken;  // one pipe buffer (submit)
        fuse_bufvec out = FUSE_BUFVEC_INIT(size - taken);
        out.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
        out.buf[0].fd = fd;
        out.buf[0].pos = off + static_cast<off_t>(taken);
        ssize_t n = 0;
        {
            std::shared_lock alloc(fs.alloc_lock());  // see BackingAllocLock
            n = fuse_buf_copy(&out, &rest, static_cast<fuse_buf_copy_flags>(0));
        }
        if (n < 0 && taken == 0) return (void)fuse_reply_err(req, static_cast<int>(-n));
        if (n > 0) taken += static_cast<std::size_t>(n);
    }
    // All of it consumed: libfuse may keep its pipe (it empties, by making
    // a new one, a pipe a handler left data in).
    if (taken == size) in->idx = in->count;
    fs.stamp_write(ino);
    fuse_reply_write(req, taken);
}

void flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    (void)ino;
    (void)fi;
    fuse_reply_err(req, 0);
}

void release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    auto& fs = fs_of(req);
    // Queued writes use this fd: they land before it closes.
    fs.write_behind().drain(ino);
    if (int err = fs.write_behind().closed(static_cast<int>(fi->fh))) fs.log_lost_write(ino, err);
    UniqueFd fd(static_cast<int>(fi->fh));
    {
        // The last close of an unlinked file frees its clusters: see
        // BackingAllocLock (the kernel sends RELEASE after close() returned,
        // so waiting here holds up nobody).
        std::shared_lock alloc(fs.alloc_lock());
        {
            std::lock_guard lk(fs.mutex());
            if (Node* n = fs.node(ino)) {
                end_passthrough(fs, ino, *n, fd.get());
                std::erase(n->open_fds, fd.get());
            }
            fs.forget(ino, 0);  // an unlinked node may go now
        }
        fd.reset();
    }
    fuse_reply_err(req, 0);
}

void fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
    auto& fs = fs_of(req);
    const int fd = static_cast<int>(fi->fh);
    fs.write_behind().drain(ino);
    if (int err = fs.write_behind().check(fd)) return (void)fuse_reply_err(req, err);
    {
        // Shared: an index write outside the mutex must not run meanwhile
        // (see BackingAllocLock); released before flush_released takes it.
        std::shared_lock alloc(fs.alloc_lock());
        if (backing_fsync(fd, datasync != 0) != 0) return (void)fuse_reply_err(req, errno);
    }
    // The file's metadata reaches the stick too, under the lock of the
    // directory holding it (written without holding the mutex: a stick's
    // fsync is slow and would stall every operation).
    for (;;) {
        std::uint64_t owner = 0;
        {
            std::lock_guard lk(fs.mutex());
            AttrRef a = fs.attrs(ino);
            if (!a.owner) return (void)fuse_reply_err(req, 0);  // unlinked: nothing to keep
            owner = a.owner->ino;
        }
        OpLocks l(fs, {owner}, owner == 0, false);
        AttrRef a = fs.attrs(ino);
        if (!a.owner) return (void)fuse_reply_err(req, 0);
        if (a.owner->ino != owner) continue;  // renamed meanwhile
        // A name made or moved here since the directory's last sync goes to
        // the stick with this fsync (see DirState::unsynced_names).
        const bool sync_dir = a.owner->unsynced_names != 0;
        a.owner->unsynced_names = 0;
        const int err = fs.flush_released(l.mu(), a.owner, sync_dir);
        l.mu().unlock();
        return (void)fuse_reply_err(req, err);
    }
}

void fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, fuse_file_info* fi) {
    if (off < 0 || len <= 0) return (void)fuse_reply_err(req, EINVAL);
    if (!(mode & FALLOC_FL_KEEP_SIZE) &&
        static_cast<std::uint64_t>(off) + static_cast<std::uint64_t>(len) > kFatMaxFileSize)
        return (void)fuse_reply_err(req, EFBIG);
    fs_of(req).write_behind().drain(ino);
    {
        std::shared_lock alloc(fs_of(req).alloc_lock());  // see BackingAllocLock
        if (::fallocate(static_cast<int>(fi->fh), mode, off, len) != 0)
            return (void)fuse_reply_err(req, errno);
    }
    fs_of(req).stamp_write(ino);
    fuse_reply_err(req, 0);
}

}  // namespace pershome::fs::ops
