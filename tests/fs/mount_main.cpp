// Mount tests run in a private mount namespace of their own, so whatever
// they mount never reaches the machine, even if the test dies.
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cstdio>

#include <gtest/gtest.h>

#include "tests/support/mount_namespace.hpp"

int main(int argc, char** argv) {
    testing::InitGoogleTest(&argc, argv);
    // Modes in the tests are what the code says whatever umask ctest runs
    // under (a 0600 create writes the index at once, a 0644 one does not).
    umask(022);
    // Listing the tests (ctest's discovery) needs no namespace.
    if (testing::GTEST_FLAG(list_tests)) return RUN_ALL_TESTS();
    try {
        pershome::test::enter_private_mount_namespace();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "private mount namespace (needs root): %s: skipped\n", e.what());
        return 77;
    }
    return RUN_ALL_TESTS();
}
