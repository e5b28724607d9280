// A slow stick in user-mode Linux: the kernel's vfat is mounted through a
// device-mapper "delay" target that holds every write 200 ms (reads are not
// delayed), as a cheap USB stick's slowest writes do. While one directory's
// large index is being written at once (a 0600 create: its entry must be
// on the stick before the file exists), a stat in another directory must
// answer within 50 ms, and a create or an append there may wait for one
// device write at most twice (vfat's own, see expect_answers): one
// directory's index write holds that directory only. Twice: the
// directory's first index write (the file is made and grows), then a
// rewrite inside the file. The create's own duration is measured too: at
// least the 200 ms of one delayed write, so the others did overlap a write
// the delay slowed.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
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
check probe "$PROBE_BIN" A/key B/g B
cp /run/.check-out "$SHARED/probe.txt"
expect_eq key_mode 600 "$(stat -c %a A/key)"
# A's index is on the stick now. A new time on every entry: the next write
# is a full slot of A (about 300 KB) inside the index file's clusters, and
# creates and appends in B go on meanwhile.
check touch_all touch -m -d @1700000000 A/draft*
check probe_alloc "$PROBE_BIN" A/key2 B/g B
cp /run/.check-out "$SHARED/probe_alloc.txt"
expect_eq key2_mode 600 "$(stat -c %a A/key2)"
cd /run
check home_umount home_umount
check stick_umount stick_umount
check dm_remove dmsetup remove stick
)sh";

struct Probe {
    long long create_us = -1, worst_stat_us = -1, worst_alloc_us = -1, worst_newfile_us = -1;
    int stats = 0, allocs = 0, slow_allocs = 0;
};

Probe read_probe(const std::filesystem::path& file) {
    Probe p;
    std::istringstream in(read_file(file));
    for (std::string key; in >> key;) {
        long long v = 0;
        in >> v;
        if (key == "create_us") p.create_us = v;
        if (key == "stat_us") {
            ++p.stats;
            p.worst_stat_us = std::max(p.worst_stat_us, v);
        }
        if (key == "alloc_us") {
            ++p.allocs;
            // (Under 150 ms it waited for no 200 ms device write: that is
            // the scheduler of a loaded machine, not the stick.)
            p.slow_allocs += v >= 150'000;
            p.worst_alloc_us = std::max(p.worst_alloc_us, v);
        }
        if (key == "newfile_us") p.worst_newfile_us = std::max(p.worst_newfile_us, v);
    }
    return p;
}

// While A's index was written (`what`): stats, creates and appends in B.
void expect_answers(const Probe& p, const char* what) {
    std::cout << "slow stick: a 0600 create in A (" << what << ") took " << p.create_us / 1000
              << " ms; " << p.stats << " stats of B/g, the slowest " << p.worst_stat_us / 1000.0
              << " ms; " << p.allocs << " creates in B, the slowest " << p.worst_newfile_us / 1000.0
              << " ms; the same with a 4 KiB append to B/g, the slowest "
              << p.worst_alloc_us / 1000.0 << " ms, " << p.slow_allocs
              << " waited for a device write (150 ms or more)\n";
    // The create waited for at least one delayed write: the rest overlapped it.
    EXPECT_GE(p.create_us, 200'000) << what;
    EXPECT_GE(p.allocs, 1) << what;
    EXPECT_LT(p.worst_stat_us, 50'000) << what;
    // A create or an append that allocates in a FAT sector the index's
    // fsync is writing waits for that one delayed write: vfat's own locking
    // (it locks the backup FAT's buffer to copy the entry into it). Never
    // for the whole index write (about 1 s here).
    EXPECT_LE(p.slow_allocs, 2) << what;
    EXPECT_LT(p.worst_alloc_us, 2 * 200'000 + 50'000) << what;
}

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
    for (const char* c :
         {"dm_create", "stick_mount", "home_mount", "populate", "sync_others", "probe", "key_mode",
          "touch_all", "probe_alloc", "key2_mode", "home_umount", "stick_umount"})
        EXPECT_TRUE(r.passed(c)) << r.out;
    expect_answers(read_probe(tmp / "probe.txt"), "first index write, 3,001 entries");
    expect_answers(read_probe(tmp / "probe_alloc.txt"), "full slot in place, 3,002 entries");
    EXPECT_TRUE(log_is_clean(pershome_fs_log(tmp.path())));
    if (HasFailure()) tmp.keep();
}

}  // namespace
