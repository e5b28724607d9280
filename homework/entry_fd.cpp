#include "homework/entry_fd.hpp"
#include "homework/errno_text.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

namespace pershome::homework {

bool is_fresh_entry(const struct stat& st, dev_t parent_dev, mode_t type) {
    return (st.st_mode & S_IFMT) == type && st.st_uid == ::geteuid() && st.st_dev == parent_dev &&
           (type == S_IFDIR || st.st_nlink == 1);
}

tl::expected<UniqueFd, std::string> open_fresh_entry(int dirfd, const char* name, mode_t type) {
    struct stat parent {};
    if (::fstat(dirfd, &parent) != 0) {
        return tl::unexpected(fmt::format("cannot stat its directory: {}", errno_text(errno)));
    }
    UniqueFd fd(::openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return tl::unexpected(fmt::format("cannot open: {}", errno_text(errno)));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return tl::unexpected(fmt::format("cannot stat: {}", errno_text(errno)));
    }
    if (!is_fresh_entry(st, parent.st_dev, type)) {
        return tl::unexpected(std::string("was replaced right after creation; refusing"));
    }
    return fd;
}

int chmod_fd(int fd, mode_t mode) {
    const std::string link = fmt::format("/proc/self/fd/{}", fd);
    return ::chmod(link.c_str(), mode) == 0 ? 0 : errno;
}

}  // namespace pershome::homework
