// Telling a stick from a system disk, the text a stick hands us on its way to
// D-Bus and the log, and what the daemon reads off a stick without mounting.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "common/display_text.hpp"
#include "daemon/command.hpp"
#include "daemon/persistent_home.hpp"
#include "daemon/stick.hpp"
#include "daemon/stick_mount.hpp"
#include "tests/support/temp_dir.hpp"

namespace pershome {
namespace {

StickProps usb_partition() {
    StickProps p;
    p.sysname = "sdb1";
    p.devnode = "/dev/sdb1";
    p.devtype = "partition";
    p.fs_type = "vfat";
    p.bus = "usb";
    return p;
}

TEST(StickRule, UsbOrRemovableVfatIsAStick) {
    std::string why;
    EXPECT_TRUE(is_stick(usb_partition(), &why));
    EXPECT_EQ(why, "on a USB or FireWire bus");
    StickProps card = usb_partition();
    card.bus = "";
    card.removable = true;
    EXPECT_TRUE(is_stick(card, &why));
    StickProps exfat = usb_partition();
    exfat.fs_type = "exfat";
    EXPECT_TRUE(is_stick(exfat));
    // A partitionless "superfloppy" stick: the whole disk holds the FAT.
    StickProps superfloppy = usb_partition();
    superfloppy.devtype = "disk";
    EXPECT_TRUE(is_stick(superfloppy));
}

TEST(StickRule, SystemDisksAndOtherFilesystemsAreNot) {
    std::string why;
    StickProps sata = usb_partition();
    sata.bus = "ata";
    EXPECT_FALSE(is_stick(sata, &why));
    EXPECT_EQ(why, "a fixed disk (neither removable nor on USB)");
    StickProps ext4 = usb_partition();
    ext4.fs_type = "ext4";
    EXPECT_FALSE(is_stick(ext4));
    StickProps table = usb_partition();
    table.fs_type = "";  // a disk with a partition table: its partitions count
    EXPECT_FALSE(is_stick(table));
}

TEST(StickRule, UdevPropertiesOverrideTheRuleEitherWay) {
    StickProps sata = usb_partition();
    sata.bus = "ata";
    sata.force_stick = true;
    EXPECT_TRUE(is_stick(sata));
    StickProps usb = usb_partition();
    usb.force_ignore = true;
    EXPECT_FALSE(is_stick(usb));
    // PERSHOME_STICK=1 never makes a non-FAT disk a stick.
    sata.fs_type = "ext4";
    EXPECT_FALSE(is_stick(sata));
}

TEST(StickRule, DeviceObjectPathsAreEscaped) {
    EXPECT_EQ(device_object_path("sdb1"), "/org/pershome1/device/sdb1");
    EXPECT_EQ(device_object_path("dm-0"), "/org/pershome1/device/dm_2d0");
}

TEST(StickText, UdevLabelEncodingIsDecoded) {
    EXPECT_EQ(udev_decode("My\\x20Stick"), "My Stick");
    EXPECT_EQ(udev_decode("A\\xffB\\x0a"), std::string("A\xff"
                                                       "B\n"));
    EXPECT_EQ(udev_decode("trailing\\x2"), "trailing\\x2");
}

TEST(StickText, DisplayTextKeepsUtf8AndEscapesTheRest) {
    EXPECT_EQ(display_text("JOSÉ"), "JOSÉ");
    EXPECT_EQ(display_text("a\nb"), "a\\x0ab");
    EXPECT_EQ(display_text("back\\slash"), "back\\\\slash");
    EXPECT_EQ(display_text(std::string("\xff\xfe", 2)), "\\xff\\xfe");
    // An overlong encoding and a lone surrogate are not UTF-8.
    EXPECT_EQ(display_text("\xc0\xaf"), "\\xc0\\xaf");
    EXPECT_EQ(display_text("\xed\xa0\x80"), "\\xed\\xa0\\x80");
    EXPECT_EQ(display_text("\x1b[31m"), "\\x1b[31m");
    EXPECT_EQ(display_text(std::string(300, 'a'), 10), "aaaaaaaaaa...");
}

TEST(LastUse, RoundTripAndHostileText) {
    LastUse u{"jsmith", "lab-pc07", 1764633600};
    EXPECT_EQ(parse_last_use(format_last_use(u)).user, "jsmith");
    EXPECT_EQ(parse_last_use(format_last_use(u)).host, "lab-pc07");
    EXPECT_EQ(parse_last_use(format_last_use(u)).time, 1764633600);
    LastUse bad = parse_last_use("time=99999999999999999999999\nuser\nhost=x=y\n\0junk");
    EXPECT_EQ(bad.time, 0);
    EXPECT_EQ(bad.host, "x=y");
    // A name with a newline cannot forge a second field.
    LastUse forged = parse_last_use(format_last_use(LastUse{"a\nhost=evil", "real", 5}));
    EXPECT_EQ(forged.host, "real");
}

class FatImage : public testing::Test {
  protected:
    void SetUp() override {
        if (run_command({"mkfs.fat", "--help"}, std::chrono::seconds(10)).status < 0)
            GTEST_SKIP() << "mkfs.fat is not installed";
    }
    std::string make(const std::string& name, const std::vector<std::string>& args) {
        const std::string img = (tmp_ / name).string();
        { std::ofstream(img).close(); }
        EXPECT_EQ(::truncate(img.c_str(), 64 << 20), 0);
        std::vector<std::string> argv = {"mkfs.fat"};
        argv.insert(argv.end(), args.begin(), args.end());
        argv.push_back(img);
        CommandResult r = run_command(argv, std::chrono::seconds(30));
        EXPECT_EQ(r.status, 0) << r.output;
        return img;
    }
    void set_byte(const std::string& img, long off, unsigned char v) {
        std::fstream f(img, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(off);
        f.put(static_cast<char>(v));
    }
    test::TempDir tmp_;
};

TEST_F(FatImage, DirtyBitOfFat32AndFat16) {
    const std::string f32 = make("f32.img", {"-F", "32"});
    EXPECT_EQ(stick_dirty(f32, "vfat"), false);
    set_byte(f32, 0x41, 0x01);
    EXPECT_EQ(stick_dirty(f32, "vfat"), true);
    // fsck.fat -a clears it, as pershomed runs it before a read-write mount.
    ASSERT_TRUE(repair_stick(f32, "vfat", std::chrono::seconds(30)));
    EXPECT_EQ(stick_dirty(f32, "vfat"), false);
    const std::string f16 = make("f16.img", {"-F", "16"});
    EXPECT_EQ(stick_dirty(f16, "vfat"), false);
    set_byte(f16, 0x25, 0x01);
    EXPECT_EQ(stick_dirty(f16, "vfat"), true);
}

// exfat's dirty flag (VolumeFlags bit 1, outside the boot checksum) and
// fsck.exfat -y, which clears it: the repair path of an exfat stick, run
// here on an image since no kernel on these machines mounts exfat.
TEST_F(FatImage, DirtyFlagOfExfatAndItsRepair) {
    if (run_command({"mkfs.exfat", "-V"}, std::chrono::seconds(10)).status < 0)
        GTEST_SKIP() << "exfatprogs is not installed";
    const std::string img = (tmp_ / "exfat.img").string();
    { std::ofstream(img).close(); }
    ASSERT_EQ(::truncate(img.c_str(), 64 << 20), 0);
    CommandResult made = run_command({"mkfs.exfat", img}, std::chrono::seconds(30));
    ASSERT_EQ(made.status, 0) << made.output;
    EXPECT_EQ(stick_dirty(img, "exfat"), false);
    set_byte(img, 106, 0x02);
    EXPECT_EQ(stick_dirty(img, "exfat"), true);
    ASSERT_TRUE(repair_stick(img, "exfat", std::chrono::seconds(30)));
    EXPECT_EQ(stick_dirty(img, "exfat"), false);
}

TEST_F(FatImage, UnreadableDeviceIsAnErrorNamingIt) {
    auto r = stick_dirty((tmp_ / "missing.img").string(), "vfat");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("missing.img"), std::string::npos) << r.error();
}

TEST(Command, DeadlineKillsAndOutputIsKept) {
    CommandResult slow = run_command({"sleep", "30"}, std::chrono::milliseconds(200));
    EXPECT_TRUE(slow.timed_out);
    EXPECT_EQ(slow.describe(), "did not finish before its deadline and was killed");
    CommandResult out =
        run_command({"sh", "-c", "echo hello; echo err >&2; exit 3"}, std::chrono::seconds(10));
    EXPECT_EQ(out.status, 3);
    EXPECT_EQ(out.describe(), "exit status 3: hello");
    // The environment is clean: nothing of ours leaks to a mount helper.
    ::setenv("PERSHOME_SECRET", "x", 1);
    CommandResult env = run_command({"env"}, std::chrono::seconds(10));
    EXPECT_EQ(env.output.find("PERSHOME_SECRET"), std::string::npos);
    CommandResult missing = run_command({"/nonexistent/helper"}, std::chrono::seconds(10));
    EXPECT_EQ(missing.status, -1);
    EXPECT_NE(missing.describe().find("/nonexistent/helper"), std::string::npos);
}

TEST(BackendCommand, PlaceholdersAreFilledOnceLeftToRight) {
    const std::vector<std::string> tmpl = {"ltspfs", "{source}", "-o", "x={mountpoint},y",
                                           "{mountpoint}"};
    EXPECT_EQ(backend_command(tmpl, "term07:/media/root/sdb1", "/run/pershome/sticks/t"),
              (std::vector<std::string>{"ltspfs", "term07:/media/root/sdb1", "-o",
                                        "x=/run/pershome/sticks/t,y", "/run/pershome/sticks/t"}));
    // A source that holds a placeholder is not expanded again (it used to
    // loop forever on "{source}", on the event loop).
    EXPECT_EQ(backend_command({"b", "{source}"}, "a{source}{mountpoint}", "/m"),
              (std::vector<std::string>{"b", "a{source}{mountpoint}"}));
}

TEST(PershomeFsCommand, UnderSystemdItGetsAScopeOfItsOwn) {
    PersistentSpec spec;
    spec.user = UserInfo{"joseph", 20001, 20001, "/tmphome/joseph"};
    spec.device = "JOSEPH (/dev/sdb1)";
    spec.stick_dir = "/run/pershome/sticks/sdb1";
    spec.pershome_fs = "/usr/bin/pershome-fs";
    spec.flush_seconds = 7;
    spec.now.time = 1764633600;
    const std::vector<std::string> plain = {"/usr/bin/pershome-fs",
                                            "-f",
                                            "-o",
                                            "uid=20001,gid=20001,allow_other,flush=7,"
                                            "fsname=/run/pershome/sticks/sdb1/pershome",
                                            "/proc/self/fd/3",
                                            "/tmphome/joseph"};
    EXPECT_EQ(pershome_fs_command(spec, false), plain);
    auto scoped = pershome_fs_command(spec, true);
    ASSERT_GT(scoped.size(), plain.size());
    EXPECT_EQ(scoped[0], "systemd-run");
    EXPECT_EQ(scoped[1], "--scope");
    const std::string unit = "--unit=pershome-fs-20001-1764633600-" + std::to_string(::getpid());
    auto unit_of = [&](const std::vector<std::string>& argv) {
        auto it = std::find_if(argv.begin(), argv.end(),
                               [&](const std::string& a) { return a.starts_with(unit + "-"); });
        return it == argv.end() ? std::string() : *it;
    };
    ASSERT_NE(unit_of(scoped), "");
    EXPECT_NE(unit_of(pershome_fs_command(spec, true)), unit_of(scoped))
        << "a second login in the same second gets another scope name";
    EXPECT_TRUE(std::equal(plain.rbegin(), plain.rend(), scoped.rbegin()));
    // Its journal stream is opened inside the scope, right before pershome-fs.
    EXPECT_EQ(scoped[scoped.size() - plain.size() - 2], "systemd-cat");
    // Stopped before the stick's mount unit at shutdown (systemd-escape --path).
    EXPECT_NE(
        std::find(scoped.begin(), scoped.end(), "--property=After=run-pershome-sticks-sdb1.mount"),
        scoped.end());
    spec.stick_dir = "/run/pershome/sticks/dm-0";
    scoped = pershome_fs_command(spec, true);
    EXPECT_NE(std::find(scoped.begin(), scoped.end(),
                        "--property=After=run-pershome-sticks-dm\\x2d0.mount"),
              scoped.end());
}

}  // namespace
}  // namespace pershome
