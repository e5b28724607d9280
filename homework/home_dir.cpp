#include "homework/home_dir.hpp"
#include "homework/errno_text.hpp"
#include "homework/step_hook.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace pershome::homework {

tl::expected<UniqueFd, std::string> create_home_dir(int parent_dirfd, std::string_view name_view,
                                                    uid_t uid, gid_t gid, mode_t mode) {
    const std::string name(name_view);
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
        return tl::unexpected(fmt::format("\"{}\" is not a plain directory entry name", name));
    }
    // 0700 until the owner is right, so nobody else can get in meanwhile.
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
    if (::fstat(fd.get(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) {
        return tl::unexpected(fmt::format("{} was replaced right after creation; refusing", name));
    }
    if (::fchown(fd.get(), uid, gid) != 0) {
        return tl::unexpected(fmt::format("cannot chown {}: {}", name, errno_text(errno)));
    }
    if (::fchmod(fd.get(), mode & 01777) != 0) {
        return tl::unexpected(fmt::format("cannot chmod {}: {}", name, errno_text(errno)));
    }
    return fd;
}

}  // namespace pershome::homework
