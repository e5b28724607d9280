#include <fmt/format.h>

#include "fs/ops.hpp"

namespace pershome::fs::ops {

void init(void* userdata, fuse_conn_info* conn) {
    const Options& opt = static_cast<Fs*>(userdata)->opt();
    // libfuse fails the mount unless init repeats the max_read= option.
    if (opt.max_read) conn->max_read = opt.max_read;
    // Requests this large still fit, with their header, in a pipe of the
    // default pipe-max-size (1 MiB) once rounded up to a power of two: so
    // libfuse splices them from /dev/fuse without CAP_SYS_RESOURCE, and a
    // WriteBehind pipe holds one. (1 MiB would need a 2 MiB pipe: without
    // that capability libfuse then falls back to copying every request.)
    conn->max_write = 512u << 10;
    if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
    if (conn->capable & FUSE_CAP_SPLICE_READ) conn->want |= FUSE_CAP_SPLICE_READ;
    // Plain READDIR: a walk that needs no attributes (find, du-less
    // scripts, completion) then reads no inode; one that does looks each
    // entry up, as through bindfs. READDIRPLUS (even AUTO, which sends it
    // for each directory's first chunk) made plain find several times
    // slower than bindfs (bench/fs/bench-fs-walk.sh).
    conn->want &= ~static_cast<unsigned>(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
    // Locks are local to this machine: the kernel handles flock/fcntl itself.
    conn->want &= ~static_cast<unsigned>(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
}

void destroy(void* userdata) {
    auto& fs = *static_cast<Fs*>(userdata);
    fs.write_behind().drain_all();
    for (auto [ino, err] : fs.write_behind().unseen_errors()) fs.log_lost_write(ino, err);
    fs.stop_flusher();
    fs.flush_all();
    const auto s = fs.stats();
    fs.log(fmt::format("{} index writes, {} bytes", s.writes, s.bytes));
    fs.log(fmt::format("read requests for {} bytes, {} opens passed through by the kernel",
                       fs.read_bytes(), fs.passthrough().opens()));
}

}  // namespace pershome::fs::ops
