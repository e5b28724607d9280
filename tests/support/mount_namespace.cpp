#include "tests/support/mount_namespace.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "common/unique_fd.hpp"

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

namespace {

[[noreturn]] void fail(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

bool under_tmp(const std::string& path) {
    return path.rfind("/tmp/", 0) == 0;
}

}  // namespace

void mount_private_tmp() {
    enter_private_mount_namespace();
    // A build or source tree below /tmp (where many people build) would be
    // hidden by the new tmpfs, and with it every binary and script a test
    // runs: opened before, bound back at the same path after.
    std::vector<std::pair<std::string, UniqueFd>> keep;
    for (const std::string tree : {PERSHOME_TEST_BINARY_DIR, PERSHOME_TEST_SOURCE_DIR}) {
        if (!under_tmp(tree)) continue;
        UniqueFd fd(open(tree.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!fd) fail("open " + tree);
        keep.emplace_back(tree, std::move(fd));
    }
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
        fail("mount tmpfs on /tmp");
    for (const auto& [tree, fd] : keep) {
        std::error_code ec;
        std::filesystem::create_directories(tree, ec);
        const std::string from = "/proc/self/fd/" + std::to_string(fd.get());
        if (ec || mount(from.c_str(), tree.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0)
            fail("the build tree " + tree +
                 " is below /tmp, which the tests replace by a private tmpfs, and it could not "
                 "be bound back; build elsewhere (the source tree or /var/tmp)");
    }
}

}  // namespace pershome::test
