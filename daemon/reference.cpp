#include "daemon/reference.hpp"
#include "homework/errno_text.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fmt/core.h>

namespace pershome {

std::string Reference::new_id() {
    unsigned char bytes[16];
    if (getrandom(bytes, sizeof bytes, 0) != sizeof bytes) {
        throw std::runtime_error("getrandom failed");
    }
    std::string id;
    for (unsigned char b : bytes) id += fmt::format("{:02x}", b);
    return id;
}

tl::expected<std::pair<Reference, UniqueFd>, std::string> Reference::create(int refs_dirfd,
                                                                            std::string id) {
    if (mkfifoat(refs_dirfd, id.c_str(), 0600) < 0) {
        return tl::unexpected(fmt::format("mkfifo {}: {}", id, homework::errno_text(errno)));
    }
    // Read end first (non-blocking, so open does not wait for a writer); its
    // open records the writer generation the kernel compares for POLLHUP.
    UniqueFd rd(openat(refs_dirfd, id.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW));
    if (!rd) {
        int e = errno;
        unlinkat(refs_dirfd, id.c_str(), 0);
        return tl::unexpected(fmt::format("open fifo {}: {}", id, homework::errno_text(e)));
    }
    UniqueFd wr(openat(refs_dirfd, id.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW));
    if (!wr) {
        int e = errno;
        unlinkat(refs_dirfd, id.c_str(), 0);
        return tl::unexpected(
            fmt::format("open fifo {} for writing: {}", id, homework::errno_text(e)));
    }
    return std::pair{Reference(refs_dirfd, std::move(id), std::move(rd)), std::move(wr)};
}

tl::expected<Reference, std::string> Reference::reopen(int refs_dirfd, std::string id) {
    struct stat st {};
    if (fstatat(refs_dirfd, id.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
        return tl::unexpected(
            fmt::format("reference fifo {}: {}", id, homework::errno_text(errno)));
    }
    if (!S_ISFIFO(st.st_mode)) {
        return tl::unexpected(fmt::format("reference {} is not a fifo", id));
    }
    UniqueFd rd(openat(refs_dirfd, id.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW));
    if (!rd)
        return tl::unexpected(fmt::format("open fifo {}: {}", id, homework::errno_text(errno)));
    // The kernel reports POLLHUP on a FIFO only when the writer generation
    // changed since the read end was opened. Writers that were already there
    // when we reopened would never make it change: open and close one write
    // end ourselves so that "no writers left" is reported, now or later.
    UniqueFd wr(openat(refs_dirfd, id.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW));
    if (!wr)
        return tl::unexpected(
            fmt::format("open fifo {} for writing: {}", id, homework::errno_text(errno)));
    return Reference(refs_dirfd, std::move(id), std::move(rd));
}

void Reference::remove() {
    if (refs_dirfd_ >= 0) unlinkat(refs_dirfd_, id_.c_str(), 0);
    read_end_.reset();
}

}  // namespace pershome
