// A kernel without FUSE passthrough (UML runs Debian's 6.1, as LTSP clients
// on Debian 12 do), under a mount that would otherwise use it: root, and a
// backing that is not FAT (tmpfs here). pershome-fs still routes its
// /dev/fuse I/O through its hooks (fs/passthrough.hpp), which must change
// nothing there: every read reaches the daemon, none passes through, and
// the data is right after a remount.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "tests/support/temp_dir.hpp"
#include "tests/uml/pershome_guest.hpp"
#include "tests/uml/uml_machine.hpp"

namespace {

using namespace pershome::test;
using namespace pershome::test::uml;
using namespace std::chrono_literals;

TEST(NoPassthroughKernel, NonFatBackingIsReadThroughTheDaemon) {
    if (std::string why = home_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    TempDir tmp("pershome-uml");
    UmlMachine m(tmp.path());
    m.add_guest_library(pershome_guest_library());
    GuestResult r = m.run(R"(
check tmpfs sh -c 'mkdir -p /run/tb && mount -t tmpfs tmpfs /run/tb && mkdir /run/tb/pershome'
STICK=/run/tb
check source dd if=/dev/urandom of=/run/src bs=1M count=3 status=none
check home_mount home_mount || exit 1
check copy cp /run/src "$HOME_DIR/f"
check read_back cmp /run/src "$HOME_DIR/f"
check home_umount home_umount
check home_remount home_mount || exit 1
check read_after_remount cmp /run/src "$HOME_DIR/f"
check home_final_umount home_umount
)",
                          120s);
    ASSERT_TRUE(r.finished()) << r.describe();
    EXPECT_TRUE(r.all_passed()) << r.describe();
    const std::string log = pershome_fs_log(tmp.path());
    EXPECT_TRUE(log_is_clean(log));
    EXPECT_EQ(log.find("refused"), std::string::npos) << log;
    // The hooks ran: they saw INIT, and the kernel not offering passthrough.
    EXPECT_NE(log.find("the kernel offers no FUSE passthrough"), std::string::npos) << log;
    // One line per unmount; the second mount read the whole file.
    long long bytes = -1, opens = -1;
    const auto at = log.rfind("read requests for ");
    ASSERT_NE(at, std::string::npos) << log;
    ASSERT_EQ(
        std::sscanf(log.c_str() + at, "read requests for %lld bytes, %lld opens", &bytes, &opens),
        2)
        << log;
    EXPECT_EQ(opens, 0);
    EXPECT_GE(bytes, 3ll << 20);
    if (HasFailure()) tmp.keep();
}

}  // namespace
