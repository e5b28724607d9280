#include <fmt/format.h>

#include "fs/ops.hpp"

namespace pershome::fs::ops {

void init(void* userdata, fuse_conn_info* conn) {
    (void)userdata;
    // Big writes go straight to the backing file in one call.
    conn->max_write = 1u << 20;
    if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
    if (conn->capable & FUSE_CAP_SPLICE_MOVE) conn->want |= FUSE_CAP_SPLICE_MOVE;
    if (conn->capable & FUSE_CAP_SPLICE_READ) conn->want |= FUSE_CAP_SPLICE_READ;
    // Locks are local to this machine: the kernel handles flock/fcntl itself.
    conn->want &= ~static_cast<unsigned>(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
}

void destroy(void* userdata) {
    auto& fs = *static_cast<Fs*>(userdata);
    fs.stop_flusher();
    std::lock_guard lk(fs.mutex());
    fs.flush_all();
    const auto s = fs.stats();
    fs.log(fmt::format("{} index writes, {} bytes", s.writes, s.bytes));
}

}  // namespace pershome::fs::ops
