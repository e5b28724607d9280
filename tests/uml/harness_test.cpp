// The UML harness itself: a boot runs the script and reports its checks,
// output and status; a hung guest is killed at its deadline; the guest's
// writes outside the shared dir stay in the guest; host and guest can
// hand-shake while a disk is hot-plugged through mconsole and seen by udev.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <string>

#include "tests/support/temp_dir.hpp"
#include "tests/uml/uml_machine.hpp"

namespace {

namespace fs = std::filesystem;
using namespace pershome::test;
using namespace pershome::test::uml;
using namespace std::chrono_literals;

class Harness : public testing::Test {
  protected:
    void SetUp() override {
        if (std::string why = unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    }
    void TearDown() override {
        if (HasFailure()) tmp_.keep();
    }
    TempDir tmp_{"pershome-uml"};
};

TEST_F(Harness, RunsTheScriptAndReportsChecksOutputAndStatus) {
    UmlMachine m(tmp_.path());
    const std::string probe = "/tmp/" + tmp_.path().filename().string() + "-guest-probe";
    GuestResult r = m.run(R"(
echo hello from the guest
echo to stderr >&2
check passes true
check fails sh -c 'echo why it failed; exit 3'
check_fails must_fail false
expect_eq equal abc abc
expect_eq differs abc abd
check vfat_loaded grep -qw vfat /proc/filesystems
check fuse_loaded test -c /dev/fuse
check private_tmp sh -c 'echo x > )" +
                              probe + R"('
check shared_dir_writable sh -c 'echo from-guest > "$SHARED/written"'
exit 7
)",
                          60s);
    ASSERT_TRUE(r.finished()) << r.describe();
    EXPECT_EQ(r.exit_status, 7);
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.out.find("hello from the guest"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("to stderr"), std::string::npos) << r.err;
    EXPECT_TRUE(r.passed("passes"));
    EXPECT_TRUE(r.failed("fails"));
    EXPECT_NE(r.checks.at("fails").detail.find("why it failed"), std::string::npos)
        << r.checks.at("fails").detail;
    EXPECT_TRUE(r.passed("must_fail"));
    EXPECT_TRUE(r.passed("equal"));
    EXPECT_TRUE(r.failed("differs"));
    EXPECT_FALSE(r.passed("never_ran"));
    EXPECT_TRUE(r.passed("vfat_loaded"));
    EXPECT_TRUE(r.passed("fuse_loaded"));
    EXPECT_TRUE(r.passed("private_tmp"));
    EXPECT_FALSE(fs::exists(probe)) << "the guest's /tmp reached the host";
    EXPECT_TRUE(r.passed("shared_dir_writable"));
    EXPECT_EQ(read_file(tmp_ / "written"), "from-guest\n");
    EXPECT_FALSE(r.all_passed());
    EXPECT_GT(r.boot_time.count(), 0);
    std::cout << "UML boot to script: " << r.boot_time.count() << " ms, whole run "
              << r.total_time.count() << " ms\n";
}

TEST_F(Harness, KillsAHungGuestAtTheDeadline) {
    UmlMachine m(tmp_.path());
    // The deadline counts from the start, boot included: room for a boot
    // that a loaded machine (ctest -j2 beside builds) makes take seconds.
    GuestResult r = m.run("signal_host started\nsleep 1000\n", 15s);
    EXPECT_EQ(r.outcome, GuestResult::Outcome::Timeout) << r.describe();
    EXPECT_TRUE(fs::exists(tmp_ / "started"));
    EXPECT_LT(r.total_time, 20s);
    EXPECT_NE(r.describe().find("still running after 15 s"), std::string::npos) << r.describe();
}

TEST_F(Harness, ReportsABootThatDoesNotComeInTime) {
    UmlMachine m(tmp_.path());
    m.set_boot_timeout(0s);
    GuestResult r = m.run("echo never\n", 30s);
    EXPECT_EQ(r.outcome, GuestResult::Outcome::NoBoot) << r.describe();
    EXPECT_NE(r.err.find("UML did not boot within 0 s"), std::string::npos) << r.err;
    EXPECT_FALSE(r.ok());
}

// What the daemon tests will need: a stick plugged into a running machine,
// seen by udev with its blkid properties, then removed.
TEST_F(Harness, HotPlugsADiskThroughMconsoleAndUdevSeesIt) {
    make_fat32_image(tmp_ / "stick.img", 64, {"pershome"});
    UmlMachine m(tmp_.path(), "hotplug");
    m.start(R"(
check udevd start_udev
signal_host ready
wait_for_host plugged 30 || fail plugged "host never plugged"
check sees_disk wait_until 10 test -b /dev/ubdc
udevadm settle --timeout=30
check udev_blkid sh -c 'udevadm info --query=property --name=/dev/ubdc | grep -x ID_FS_TYPE=vfat'
check mounts sh -c 'mkdir -p /run/s && mount -t vfat /dev/ubdc /run/s && test -d /run/s/pershome && umount /run/s'
signal_host unmounted
wait_for_host removed 30 || fail removed "host never removed the disk"
check disk_gone wait_until 10 sh -c '! test -b /dev/ubdc'
)");
    ASSERT_TRUE(m.wait_for_file("ready", Clock::now() + 60s)) << m.finish(1s).describe();
    std::string reply = m.mconsole("config ubdc=" + (tmp_ / "stick.img").string());
    EXPECT_EQ(reply.rfind("OK", 0), 0u) << reply;
    write_file(tmp_ / "plugged", "");
    ASSERT_TRUE(m.wait_for_file("unmounted", Clock::now() + 60s)) << m.finish(1s).describe();
    reply = m.mconsole("remove ubdc");
    EXPECT_EQ(reply.rfind("OK", 0), 0u) << reply;
    write_file(tmp_ / "removed", "");
    GuestResult r = m.finish(90s);
    EXPECT_TRUE(r.all_passed());
    for (const char* c : {"udevd", "sees_disk", "udev_blkid", "mounts", "disk_gone"}) {
        EXPECT_TRUE(r.passed(c));
    }
}

}  // namespace

namespace {

// classify_fsck: what a pull may leave (dirty bit, lost clusters, the
// orphaned long-name slots of an unsynced create, a file whose fsync it
// cut short) is not damage; two entries sharing clusters is.
const char* const kFsckHead =
    "fsck.fat 4.2 (2021-01-31)\n"
    "There are differences between boot sector and its backup.\n"
    "This is mostly harmless. Differences: (offset:original/backup)\n"
    "  65:01/00\n"
    "  Not automatically fixing this.\n";
const char* const kFsckTail =
    "Dirty bit is set. Fs was not properly unmounted and some data may be corrupt.\n"
    " Automatically removing dirty bit.\n"
    "\n"
    "Leaving filesystem unchanged.\n"
    "/dev/ubdb: 39 files, 78/129022 clusters\n";

TEST(ClassifyFsck, PullArtifactsAreNotDamageSharedClustersAre) {
    const FsckResult dirty = classify_fsck(1, std::string(kFsckHead) + kFsckTail);
    EXPECT_TRUE(dirty.no_damage);
    EXPECT_TRUE(dirty.clean_but_dirty);
    const FsckResult orphan =
        classify_fsck(1, std::string(kFsckHead) +
                             "Orphaned long file name part \"f6_~f9434fe6\"\n  Auto-deleting.\n"
                             "Reclaimed 2 unused clusters (1024 bytes).\n" +
                             kFsckTail);
    EXPECT_TRUE(orphan.no_damage) << orphan.output;
    EXPECT_FALSE(orphan.clean_but_dirty);
    const FsckResult cut_fsync = classify_fsck(
        1, std::string(kFsckHead) +
               "/PERSHOME/r6/f4_~f93ed2b8\n  Contains a free cluster (1055). Assuming EOF.\n"
               "/PERSHOME/r6/f4_~f93ed2b8\n"
               "  File size is 7 bytes, cluster chain length is 0 bytes.\n"
               "  Truncating file to 0 bytes.\n" +
               kFsckTail);
    EXPECT_TRUE(cut_fsync.no_damage) << cut_fsync.output;
    const FsckResult shared =
        classify_fsck(1, std::string(kFsckHead) +
                             "/PERSHOME/Makefile  and\n/PERSHOME/PERSHOME.LNK/0000000000000001\n"
                             "  share clusters.\n  Truncating second to 0 bytes.\n" +
                             kFsckTail);
    EXPECT_FALSE(shared.no_damage);
}

}  // namespace
