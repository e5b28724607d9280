// Kernel FUSE passthrough (Linux 6.9 and later): the kernel hands the reads
// of an open file straight to its backing file, skipping this daemon and
// the FUSE page cache, whose 4 KiB pages made a cold read of a large file
// take 1.3-1.5 times as long as on the backing itself (bench-fs).
//
// libfuse 3.14 (Debian 12) cannot ask for it, so Passthrough routes the
// session's /dev/fuse I/O through hooks (fuse_session_custom_io) that add
// the request to the INIT reply; FUSE_DEV_IOC_BACKING_OPEN (CAP_SYS_ADMIN)
// registers a backing file, and an open reply built here names it.
//
// When it is used (policy in op_file.cpp): a file opened read-only while
// no other handle has it open, on a backing that is not FAT. The kernel
// gives an inode one I/O mode at a time: once a handle reads through, every
// later open of that inode must too, writers included, and a writer's
// writes then reach the backing without this daemon. On FAT that would let
// cluster allocations past BackingAllocLock (fs.hpp), so a backing that is
// or may be FAT (a FUSE one) never uses it; elsewhere such a writer is
// watched (fs.cpp, notice_passthrough_writes) so that its writes still
// move mtime.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <vector>

namespace pershome::fs {

// What one inode has open through the kernel's passthrough.
struct PassthroughUse {
    struct Handle {
        int fd;  // the handle's backing fd (its fh)
        bool writer;
    };
    // What a writer passing through changes: size and mtime (not a whole
    // struct stat: every node of a mount has one).
    struct Seen {
        off_t size = 0;
        timespec mtime{};
        bool operator==(const Seen& o) const {
            return size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
                   mtime.tv_nsec == o.mtime.tv_nsec;
        }
    };
    static Seen seen_of(const struct stat& st) { return {st.st_size, st.st_mtim}; }
    std::vector<Handle> handles;  // those opened for passthrough
    int backing_id = 0;           // registered while handles is not empty
    Seen seen;                    // the backing as last looked at, while writing()

    bool writing() const {
        for (const Handle& h : handles)
            if (h.writer) return true;
        return false;
    }
};

class Passthrough {
  public:
    // `wanted`: passthrough=auto. Asked of the kernel only with
    // CAP_SYS_ADMIN (which registering a backing file needs) and where the
    // backing (`backing_fd`) is not FAT.
    Passthrough(bool wanted, int backing_fd);

    // After fuse_session_mount: the session's /dev/fuse I/O goes through the
    // hooks from here on. `userdata` of the hooks is the session's (Fs*).
    [[nodiscard]] int attach(fuse_session* se);

    // The kernel was asked at INIT and has not refused a backing file.
    bool enabled() const { return asked_.load() && !refused_.load(); }
    // Whether it was to be asked (passthrough=auto, root, not FAT).
    bool wanted() const { return wanted_; }

    // Registers `fd` as a backing file: its id, or 0 if the kernel refused
    // (then passthrough is off for the rest of the mount; logged once).
    int open_backing(int fd);
    void close_backing(int id);

    // Replies to an open with a handle whose I/O passes through to `backing_id`.
    [[nodiscard]] int reply_open(fuse_req_t req, const fuse_file_info* fi, int backing_id);
    std::uint64_t opens() const { return opens_.load(); }

    // Called by the I/O hooks.
    void saw_request(const void* buf, std::size_t len);
    // May replace iov[1] by `patched_` (the INIT reply).
    void before_reply(struct iovec* iov, int count);

  private:
    bool wanted_;
    int dev_fd_ = -1;
    // Set by the thread that read INIT and read by the one replying to it:
    // plain fields suffice, as the kernel sends no other request until
    // INIT is answered.
    std::atomic<bool> init_done_{false};
    std::uint64_t init_unique_ = 0;
    bool offered_ = false;
    std::atomic<bool> asked_{false};
    std::atomic<bool> refused_{false};
    std::atomic<std::uint64_t> opens_{0};
    unsigned char patched_[128] = {};
};

}  // namespace pershome::fs
