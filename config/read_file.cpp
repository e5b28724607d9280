#include "config/read_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.hpp"

namespace pershome::config {

namespace {

ReadError from_errno(int err) {
    return ReadError{err, std::strerror(err)};
}

tl::expected<std::string, ReadError> read_opened(UniqueFd fd, std::size_t max_bytes,
                                                 struct stat* info, Oversize oversize) {
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return tl::unexpected(from_errno(errno));
    if (S_ISDIR(st.st_mode)) return tl::unexpected(from_errno(EISDIR));
    if (!S_ISREG(st.st_mode)) return tl::unexpected(ReadError{EINVAL, "not a regular file"});
    if (info) *info = st;

    // st_size is only a hint (the file may change under us); the cap is
    // enforced on what is actually read.
    std::string data;
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return tl::unexpected(from_errno(errno));
        }
        if (n == 0) break;
        if (data.size() + static_cast<std::size_t>(n) > max_bytes) {
            if (oversize == Oversize::Truncate) {
                data.append(buf, max_bytes - data.size());
                break;
            }
            return tl::unexpected(
                ReadError{EFBIG, "file is larger than " + std::to_string(max_bytes) + " bytes"});
        }
        data.append(buf, static_cast<std::size_t>(n));
    }
    return data;
}

}  // namespace

tl::expected<std::string, ReadError> read_config_file(const std::string& path,
                                                      std::size_t max_bytes, struct stat* info,
                                                      Oversize oversize) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer.
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd) return tl::unexpected(from_errno(errno));
    return read_opened(std::move(fd), max_bytes, info, oversize);
}

tl::expected<std::string, ReadError> read_config_file_at(int dirfd, const std::string& name,
                                                         std::size_t max_bytes, struct stat* info,
                                                         Oversize oversize) {
    UniqueFd fd(
        ::openat(dirfd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW));
    if (!fd) {
        if (errno == ELOOP) return tl::unexpected(ReadError{ELOOP, "is a symbolic link"});
        return tl::unexpected(from_errno(errno));
    }
    return read_opened(std::move(fd), max_bytes, info, oversize);
}

}  // namespace pershome::config
