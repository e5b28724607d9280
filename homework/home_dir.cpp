#include "homework/home_dir.hpp"
#include "homework/entry_fd.hpp"
#include "homework/errno_text.hpp"
#include "homework/step_hook.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace pershome::homework {

tl::expected<UniqueFd, std::string> create_home_dir(int parent_dirfd, std::string_view name_view) {
    const std::string name(name_view);
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
        return tl::unexpected(fmt::format("\"{}\" is not a plain directory entry name", name));
    }
    struct stat parent {};
    if (::fstat(parent_dirfd, &parent) != 0) {
        return tl::unexpected(
            fmt::format("cannot stat the parent of {}: {}", name, errno_text(errno)));
    }
    if (::mkdirat(parent_dirfd, name.c_str(), 0700) != 0) {
        return tl::unexpected(fmt::format("cannot create {}: {}", name, errno_text(errno)));
    }
    run_step_hook(Step::kDirCreated, parent_dirfd, name.c_str());
    UniqueFd fd(
        ::openat(parent_dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        return tl::unexpected(fmt::format("cannot open {}: {}", name, errno_text(errno)));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !is_fresh_entry(st, parent.st_dev, S_IFDIR)) {
        return tl::unexpected(fmt::format("{} was replaced right after creation; refusing", name));
    }
    // mkdirat's mode went through the umask; the mode must be exactly 0700 whatever it is.
    if (::fchmod(fd.get(), 0700) != 0) {
        return tl::unexpected(fmt::format("cannot chmod {}: {}", name, errno_text(errno)));
    }
    return fd;
}

tl::expected<void, std::string> hand_over(int home_fd, uid_t uid, gid_t gid, mode_t mode) {
    // chown before chmod: chown clears setuid/setgid, and the final mode must be exact.
    if (::fchown(home_fd, uid, gid) != 0) {
        return tl::unexpected(fmt::format("cannot chown: {}", errno_text(errno)));
    }
    if (::fchmod(home_fd, mode & 01777) != 0) {
        return tl::unexpected(fmt::format("cannot chmod: {}", errno_text(errno)));
    }
    return {};
}

}  // namespace pershome::homework
