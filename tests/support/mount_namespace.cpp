#include "tests/support/mount_namespace.hpp"

#include <sched.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

namespace pershome::test {

void enter_private_mount_namespace() {
    static bool entered = false;
    if (entered) return;
    if (unshare(CLONE_NEWNS) < 0) {
        throw std::system_error(errno, std::generic_category(), "unshare(CLONE_NEWNS)");
    }
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) {
        if (errno != EINVAL) {
            throw std::system_error(errno, std::generic_category(), "make / private");
        }
        // "/" is not a mount point: we run in a chroot (as the README's
        // fresh-machine check does). The mount holding it is not visible from
        // here; the chroot's maker decides its propagation (fresh-check makes
        // everything private). Make private what we can see.
        std::fprintf(stderr,
                     "note: / is not a mount point (chroot?); mounts stay private only if the "
                     "chroot's own mount is\n");
        mount(nullptr, "/proc", nullptr, MS_REC | MS_PRIVATE, nullptr);
    }
    entered = true;
}

void mount_private_tmp() {
    enter_private_mount_namespace();
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0) {
        throw std::system_error(errno, std::generic_category(), "mount tmpfs on /tmp");
    }
}

}  // namespace pershome::test
