// A slow stick in user-mode Linux: the kernel's vfat is mounted through a
// device-mapper "delay" target that holds every write 200 ms (reads are not
// delayed), as a cheap USB stick's slowest writes do. While one directory's
// large index is being written at once (a 0600 create: its entry must be
// on the stick before the file exists), a stat of a file in another
// directory must answer within 50 ms: one directory's index write holds
// that directory only (issue 12). The create's own duration is measured
// too: at least the 200 ms of one delayed write, so the stats did overlap
// a write that the delay really slowed.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <sstream>
#include <string>

#include "tests/support/temp_dir.hpp"
#include "tests/uml/pershome_guest.hpp"
#include "tests/uml/uml_machine.hpp"

namespace {

using namespace pershome::test;
using namespace pershome::test::uml;
using namespace std::chrono_literals;

// The create and the stats run in one process (stat_probe.cpp), timed with
// the guest's monotonic clock.
const char* const kScript = R"sh(
export TZ=UTC DM_DISABLE_UDEV=1
N=$(blockdev --getsz /dev/ubdb)
check dm_create dmsetup create stick --table "0 $N delay /dev/ubdb 0 0 /dev/ubdb 0 200" || exit 1
check stick_mount stick_mount /dev/mapper/stick || exit 1
check home_mount home_mount -o flush=3600 || exit 1
cd "$HOME_DIR"
mkdir A B && echo b > B/g
# 3,000 names FAT cannot hold, made lazily: A's index (about 300 KB) is not
# written yet. Everything else is on the stick.
check populate bash -c 'for i in $(seq 3000); do : > "A/draft $i?.txt"; done'
check sync_others sync B .
check probe "$PROBE_BIN" A/key B/g
cp /run/.check-out "$SHARED/probe.txt"
expect_eq key_mode 600 "$(stat -c %a A/key)"
cd /run
check home_umount home_umount
check stick_umount stick_umount
check dm_remove dmsetup remove stick
)sh";

TEST(SlowStick, StatInAnotherDirectoryAnswersWhileAnIndexWriteIsInFlight) {
    if (std::string why = home_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    TempDir tmp{"pershome-uml"};
    const auto image = tmp / "stick.img";
    make_fat32_image(image, 64, {"pershome"});
    UmlMachine m(tmp.path());
    m.add_disk("ubdb", image);
    m.add_module("dm-mod");
    m.add_module("dm-delay");
    m.add_guest_library(pershome_guest_library());
    m.add_guest_library(std::string("PROBE_BIN=") + PERSHOME_STAT_PROBE_BIN + "\n");
    GuestResult r = m.run(kScript, 140s);
    ASSERT_TRUE(r.finished()) << r.describe();
    for (const char* c : {"dm_create", "stick_mount", "home_mount", "populate", "sync_others",
                          "probe", "key_mode", "home_umount", "stick_umount"})
        EXPECT_TRUE(r.passed(c)) << r.out;
    long long create_us = -1, worst_us = -1;
    int stats = 0;
    std::istringstream probe(read_file(tmp / "probe.txt"));
    for (std::string key; probe >> key;) {
        long long v = 0;
        probe >> v;
        if (key == "create_us") create_us = v;
        if (key == "stat_us") {
            ++stats;
            worst_us = std::max(worst_us, v);
        }
    }
    std::cout << "slow stick: a 0600 create in A (index write of 3,001 entries) took "
              << create_us / 1000 << " ms; " << stats << " stats of B/g during it, the slowest "
              << worst_us / 1000.0 << " ms\n";
    // The create waited for at least one delayed write: the stats overlapped it.
    EXPECT_GE(create_us, 200'000);
    EXPECT_GE(stats, 1);
    EXPECT_LT(worst_us, 50'000);
    EXPECT_TRUE(log_is_clean(pershome_fs_log(tmp.path())));
    if (HasFailure()) tmp.keep();
}

}  // namespace
