#include "tests/support/mount_namespace.hpp"

#include <sched.h>
#include <sys/mount.h>

#include <cerrno>
#include <system_error>

namespace pershome::test {

void enter_private_mount_namespace() {
    static bool entered = false;
    if (entered) return;
    if (unshare(CLONE_NEWNS) < 0) {
        throw std::system_error(errno, std::generic_category(), "unshare(CLONE_NEWNS)");
    }
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) {
        throw std::system_error(errno, std::generic_category(), "make / private");
    }
    entered = true;
}

}  // namespace pershome::test
