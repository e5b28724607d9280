// Bounded reading of small configuration files: a config path pointing at a
// FIFO, a device or a multi-gigabyte file must not hang or bloat the daemon.
#pragma once

#include <cstddef>
#include <string>

#include <sys/stat.h>

#include <tl/expected.hpp>

namespace pershome::config {

// What to do with a file longer than the limit.
enum class Oversize {
    Refuse,    // fail with EFBIG
    Truncate,  // return the first max_bytes bytes
};

struct ReadError {
    int error = 0;        // errno value, or EFBIG / EINVAL for our own limits
    std::string message;  // for humans: strerror text or the limit that was hit
};

// Reads a regular file of at most `max_bytes`. Symlinks are followed (admins
// keep /etc files as symlinks); anything but a regular file is refused.
// `info`, if given, receives the fstat() of the opened file.
tl::expected<std::string, ReadError> read_config_file(const std::string& path,
                                                      std::size_t max_bytes,
                                                      struct stat* info = nullptr,
                                                      Oversize oversize = Oversize::Refuse);

// Same, for a file named `name` inside the directory `dirfd`, without
// following a symlink at `name` (for files a user controls).
tl::expected<std::string, ReadError> read_config_file_at(int dirfd, const std::string& name,
                                                         std::size_t max_bytes,
                                                         struct stat* info = nullptr,
                                                         Oversize oversize = Oversize::Refuse);

}  // namespace pershome::config
