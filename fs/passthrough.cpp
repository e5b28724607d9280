#include "fs/passthrough.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/fuse.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>

#include "fs/fs.hpp"

namespace pershome::fs {

namespace {

// Kernel ABI of passthrough (include/uapi/linux/fuse.h, protocol 7.40),
// newer than the headers of Debian 12 (Linux 6.1), whose structs are
// patched below where the newer ones have fields these call unused or
// padding: these asserts fail on headers of another layout.
static_assert(sizeof(fuse_init_out) == 64 && offsetof(fuse_init_out, flags2) == 32 &&
              offsetof(fuse_init_out, unused) == 36);  // max_stack_depth in 7.40
static_assert(sizeof(fuse_open_out) == 16 && offsetof(fuse_open_out, padding) == 12);  // backing_id
constexpr std::uint32_t kPassthroughFlags2 = 1u << 5;  // FUSE_PASSTHROUGH (1ULL << 37) >> 32
constexpr std::uint32_t kFopenPassthrough = 1u << 7;   // FOPEN_PASSTHROUGH
struct BackingMap {
    std::int32_t fd;
    std::uint32_t flags;
    std::uint64_t padding;
};
const unsigned long kBackingOpen = _IOW(FUSE_DEV_IOC_MAGIC, 1, BackingMap);
const unsigned long kBackingClose = _IOW(FUSE_DEV_IOC_MAGIC, 2, std::uint32_t);

Passthrough& of(void* userdata) {
    return static_cast<Fs*>(userdata)->passthrough();
}

ssize_t hook_read(int fd, void* buf, size_t len, void* userdata) {
    const ssize_t n = ::read(fd, buf, len);
    if (n > 0) of(userdata).saw_request(buf, static_cast<std::size_t>(n));
    return n;
}

ssize_t hook_writev(int fd, struct iovec* iov, int count, void* userdata) {
    of(userdata).before_reply(iov, count);
    return ::writev(fd, iov, count);
}

ssize_t hook_splice(int fdin, off_t* offin, int fdout, off_t* offout, size_t len,
                    unsigned int flags, void*) {
    return ::splice(fdin, offin, fdout, offout, len, flags);
}

// FAT (vfat, msdos), exFAT, and FUSE, which may be a FAT driver too
// (exfat-fuse, fusefat): see passthrough.hpp for why these never pass
// through.
bool maybe_fat(int fd) {
    struct statfs sf {};
    if (fstatfs(fd, &sf) != 0) return true;
    return sf.f_type == 0x4d44 /* MSDOS_SUPER_MAGIC */ || sf.f_type == 0x2011BAB0 /* exFAT */ ||
           sf.f_type == 0x65735546 /* FUSE_SUPER_MAGIC */;
}

bool has_cap_sys_admin() {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (syscall(SYS_capget, &hdr, data) != 0) return false;
    return data[CAP_SYS_ADMIN / 32].effective & (1u << (CAP_SYS_ADMIN % 32));
}

}  // namespace

Passthrough::Passthrough(bool wanted, int backing_fd)
    : wanted_(wanted && has_cap_sys_admin() && !maybe_fat(backing_fd)) {}

int Passthrough::attach(fuse_session* se) {
    if (!wanted_) return 0;
    dev_fd_ = fuse_session_fd(se);
    static const fuse_custom_io io = {hook_writev, hook_read, hook_splice, hook_splice};
    // The same fd: libfuse keeps the mountpoint and unmounts as before.
    return fuse_session_custom_io(se, &io, dev_fd_);
}

void Passthrough::saw_request(const void* buf, std::size_t len) {
    // Only INIT matters, and it comes first (read, never spliced).
    if (init_done_.load(std::memory_order_relaxed)) return;
    fuse_in_header h;
    if (len < sizeof h) return;
    std::memcpy(&h, buf, sizeof h);
    if (h.opcode != FUSE_INIT) return;
    fuse_init_in in{};
    std::memcpy(&in, static_cast<const char*>(buf) + sizeof h, std::min(len - sizeof h, sizeof in));
    init_unique_ = h.unique;
    offered_ = (in.flags & FUSE_INIT_EXT) && (in.flags2 & kPassthroughFlags2);
}

void Passthrough::before_reply(struct iovec* iov, int count) {
    if (init_done_.load(std::memory_order_relaxed) || count < 2) return;
    fuse_out_header h;
    if (iov[0].iov_len < sizeof h) return;
    std::memcpy(&h, iov[0].iov_base, sizeof h);
    if (h.unique != init_unique_ || init_unique_ == 0) return;
    init_done_ = true;
    if (h.error == 0 && !offered_)
        std::fprintf(stderr,
                     "pershome-fs: the kernel offers no FUSE passthrough (Linux before 6.9?): "
                     "reads go through the daemon\n");
    fuse_init_out out{};
    if (h.error != 0 || !offered_ || iov[1].iov_len < sizeof out ||
        iov[1].iov_len > sizeof patched_)
        return;
    std::memcpy(patched_, iov[1].iov_base, iov[1].iov_len);
    std::memcpy(&out, patched_, sizeof out);
    if (!(out.flags & FUSE_INIT_EXT) || (out.flags & FUSE_WRITEBACK_CACHE)) return;
    out.flags2 |= kPassthroughFlags2;
    std::memcpy(patched_, &out, sizeof out);
    // Stacking depth counting this filesystem: backings are plain
    // filesystems (depth 0), not overlays or other FUSE mounts.
    const std::uint32_t depth = 1;
    // The kernel's max_stack_depth is the first of Debian's unused words.
    std::memcpy(patched_ + offsetof(fuse_init_out, unused), &depth, sizeof depth);
    iov[1].iov_base = patched_;
    asked_ = true;
}

int Passthrough::open_backing(int fd) {
    if (!enabled()) return 0;
    BackingMap map{fd, 0, 0};
    const int id = ioctl(dev_fd_, kBackingOpen, &map);
    if (id > 0) return id;
    if (!refused_.exchange(true)) {
        // EPERM: no CAP_SYS_ADMIN (a user namespace, an unprivileged mount);
        // ELOOP: a backing stacked too deep. Cached I/O still works.
        std::fprintf(stderr,
                     "pershome-fs: the kernel refused a passthrough backing file (%s): "
                     "reads go through the daemon\n",
                     std::strerror(errno));
    }
    return 0;
}

void Passthrough::close_backing(int id) {
    std::uint32_t v = static_cast<std::uint32_t>(id);
    // (Failing, the kernel drops it with the connection.)
    if (id > 0) (void)ioctl(dev_fd_, kBackingClose, &v);
}

int Passthrough::reply_open(fuse_req_t req, const fuse_file_info* fi, int backing_id) {
    // What fuse_reply_open would send, plus FOPEN_PASSTHROUGH and the id
    // (the kernel's fuse_open_out has backing_id where Debian's has padding).
    // ops::open sets none of the other flags fuse_reply_open would carry
    // (keep_cache, direct_io, nonseekable, ...).
    fuse_open_out out{};
    out.fh = fi->fh;
    if (fi->noflush) out.open_flags |= FOPEN_NOFLUSH;
    out.open_flags |= kFopenPassthrough;
    out.padding = static_cast<std::uint32_t>(backing_id);
    const int rc = fuse_reply_buf(req, reinterpret_cast<const char*>(&out), sizeof out);
    if (rc == 0) opens_.fetch_add(1, std::memory_order_relaxed);
    return rc;
}

}  // namespace pershome::fs
