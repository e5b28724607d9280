// pershomectl check and prepare on sticks, without pershomed: check on a
// clean, a damaged and a caught-up home folder (the real pershome-fs
// --check), prepare on a real FAT image mounted through fusefat (the host
// kernel has no vfat; FUSE is real) in a private mount namespace, and the
// refusals a patron meets.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "tests/ctl/run_ctl.hpp"
#include "tests/support/mount_namespace.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace pershome::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// pershome-fs is found on PATH, as an installed one is.
std::vector<std::string> fs_on_path() {
    return {"PATH=" + fs::path(PERSHOME_FS_PATH).parent_path().string() + ":/usr/bin:/bin"};
}

// Runs ARGV to its end (mkfs, mdir): its exit status, or -1.
int run(const std::vector<std::string>& argv, std::string* out = nullptr) {
    Child c;
    c.start(argv, clean_environment());
    c.close_stdin();
    c.read_until(Clock::now() + 30s);
    const int st = c.wait(Clock::now() + 30s);
    if (out) *out = c.out_text + c.err_text;
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(CtlCheck, CleanDamagedRepairedAndCaughtUp) {
    TempDir tmp("pershome-ctl", "/var/tmp");
    const fs::path stick = tmp / "stick";
    fs::create_directories(stick / "pershome" / "docs");
    write_file(stick / "pershome" / "docs" / "report.txt", "draft\n");

    auto clean = run_ctl({"check", stick.string()}, fs_on_path());
    EXPECT_EQ(clean.status, 0) << clean.out << clean.err;
    EXPECT_NE(clean.out.find("Checked " + (stick / "pershome").string()), std::string::npos)
        << "the stick's top leads to its pershome folder: " << clean.out;
    EXPECT_NE(clean.out.find("In order"), std::string::npos) << clean.out;

    // Garbage where the top folder's metadata should be: both slots fail.
    std::ofstream(stick / "pershome" / "PERSHOME.IDX") << std::string(9000, 'x');
    auto damaged = run_ctl({"check", (stick / "pershome").string()}, fs_on_path());
    EXPECT_EQ(damaged.status, 5) << damaged.out << damaged.err;
    EXPECT_NE(damaged.out.find("/: the folder's metadata file is damaged in both copies"),
              std::string::npos)
        << damaged.out;
    EXPECT_NE(damaged.out.find("Damage (1 finding)"), std::string::npos) << damaged.out;

    auto repaired = run_ctl({"check", "--repair", stick.string()}, fs_on_path());
    EXPECT_EQ(repaired.status, 5) << "says what was found: " << repaired.out;
    EXPECT_NE(repaired.out.find("now repaired"), std::string::npos) << repaired.out;

    // Another computer adds a file: catch-up, which a login settles.
    write_file(stick / "pershome" / "from-windows.txt", "hello\n");
    auto caught = run_ctl({"check", stick.string()}, fs_on_path());
    EXPECT_EQ(caught.status, 4) << caught.out << caught.err;
    EXPECT_NE(caught.out.find("a file was added by another computer (new backing file added: "
                              "from-windows.txt)"),
              std::string::npos)
        << caught.out;

    auto missing = run_ctl({"check", (tmp / "nowhere").string()}, fs_on_path());
    EXPECT_EQ(missing.status, 1);
    EXPECT_NE(missing.err.find("No such file or directory"), std::string::npos) << missing.err;
    auto no_fs = run_ctl({"check", stick.string()}, {"PATH=/nonexistent"});
    EXPECT_EQ(no_fs.status, 1);
    EXPECT_NE(no_fs.err.find("pershome-fs is not installed"), std::string::npos) << no_fs.err;
}

// A FAT image as a stick, mounted by fusefat in the foreground (its pid is
// ours: after fusermount -u we wait for it to finish writing the image).
class FatStick {
  public:
    FatStick(const fs::path& dir, const fs::path& mount_point)
        : image_(dir / "stick.img"), mnt_(mount_point) {
        fs::create_directories(mnt_);
        std::string out;
        if (run({"/usr/bin/truncate", "-s", "16M", image_}) != 0 ||
            run({"/usr/sbin/mkfs.vfat", "-n", "STICK", image_}, &out) != 0)
            throw std::runtime_error("mkfs.vfat: " + out);
        fusefat_.start({"/usr/bin/fusefat", "-f", "-o", "rw+", image_, mnt_}, clean_environment(),
                       (dir / "fusefat.log").string());
        bool up = false;
        for (auto deadline = Clock::now() + 10s; !up && Clock::now() < deadline; ::usleep(10000)) {
            std::ifstream mi("/proc/self/mountinfo");
            for (std::string l; std::getline(mi, l);)
                up |= l.find(" " + mnt_.string() + " ") != std::string::npos;
        }
        if (!up) throw std::runtime_error("fusefat did not mount " + mnt_.string());
    }
    // Unmounts and waits for fusefat: then the image holds everything.
    void unmount() {
        if (!fusefat_.running()) return;
        run({"/usr/bin/fusermount", "-u", mnt_});
        fusefat_.wait(Clock::now() + 20s);
        fusefat_.kill_and_reap();
    }
    ~FatStick() { unmount(); }
    const fs::path& image() const { return image_; }
    const fs::path& mount_point() const { return mnt_; }

  private:
    fs::path image_, mnt_;
    Child fusefat_;
};

TEST(CtlPrepare, PreparesARealFatStickOnce) {
    if (::access("/usr/bin/fusefat", X_OK) != 0) GTEST_SKIP() << "fusefat is not installed";
    enter_private_mount_namespace();
    TempDir tmp("pershome-ctl", "/var/tmp");
    // Where a desktop mounts sticks, private to this test: a FAT stick and a
    // stick of another filesystem.
    ASSERT_EQ(::mount("tmpfs", "/media", "tmpfs", 0, "mode=0755"), 0);
    fs::create_directories("/media/patron/OTHER");
    ASSERT_EQ(::mount("tmpfs", "/media/patron/OTHER", "tmpfs", 0, "size=4m"), 0);
    FatStick stick(tmp.path(), "/media/patron/STICK");
    // Without pershomed (its bus is nowhere), --list goes by /media alone.
    const std::vector<std::string> no_bus = {"DBUS_SYSTEM_BUS_ADDRESS=unix:path=" +
                                             (tmp / "no-bus").string()};
    auto list = run_ctl({"prepare", "--list"}, no_bus);
    EXPECT_EQ(list.status, 0) << list.err;
    EXPECT_EQ(list.out,
              "/media/patron/OTHER\tOTHER\ttmpfs\t4.0 MiB\tnot-fat\n"
              "/media/patron/STICK\tSTICK\tfuse.fusefat\t16.0 MiB\tready\n");

    auto made = run_ctl({"prepare", stick.mount_point().string()});
    EXPECT_EQ(made.status, 0) << made.err;
    EXPECT_NE(made.out.find("Prepared " + stick.mount_point().string() +
                            ": made the folder pershome/ (fuse.fusefat, writable,"),
              std::string::npos)
        << made.out;
    EXPECT_NE(made.out.find(" free of 1"), std::string::npos) << "says how much room" << made.out;
    EXPECT_NE(run_ctl({"prepare", "--list"}, no_bus).out.find("\tprepared\n"), std::string::npos);
    auto again = run_ctl({"prepare", stick.mount_point().string()});
    EXPECT_EQ(again.status, 0) << again.err;
    EXPECT_NE(again.out.find("Already prepared"), std::string::npos) << again.out;
    // A folder on the stick is not its top, where logins look for pershome/.
    auto inside = run_ctl({"prepare", (stick.mount_point() / "pershome").string()});
    EXPECT_EQ(inside.status, 1);
    EXPECT_NE(inside.err.find("pershome/ must be at the stick's top. Prepare " +
                              stick.mount_point().string() + " instead"),
              std::string::npos)
        << inside.err;

    // On the stick itself, as another computer reads it.
    stick.unmount();
    // fusefat leaves FAT entry 1 as 0x8000 (its "hard error" bit clear),
    // which mtools alone refuses by default; fsck.vfat below is content.
    std::string listing;
    EXPECT_EQ(run({"/usr/bin/env", "MTOOLS_SKIP_CHECK=1", "/usr/bin/mdir", "-b", "-i",
                   stick.image(), "::/"},
                  &listing),
              0)
        << listing;
    EXPECT_NE(listing.find("::/pershome"), std::string::npos) << listing;
    EXPECT_EQ(run({"/usr/sbin/fsck.vfat", "-n", stick.image()}, &listing), 0) << listing;
    ::umount("/media/patron/OTHER");
    ::umount("/media");
}

TEST(CtlPrepare, RefusesWhatIsNotAFatStickTop) {
    enter_private_mount_namespace();
    TempDir tmp("pershome-ctl", "/var/tmp");
    const fs::path folder = tmp / "plain";
    fs::create_directories(folder);
    auto not_fat = run_ctl({"prepare", folder.string()});
    EXPECT_EQ(not_fat.status, 1);
    EXPECT_NE(not_fat.err.find("not FAT: pershome keeps homes on FAT (vfat) or exFAT sticks"),
              std::string::npos)
        << not_fat.err;
    EXPECT_FALSE(fs::exists(folder / "pershome"));
    auto forced = run_ctl({"prepare", "--force", folder.string()});
    EXPECT_EQ(forced.status, 0) << forced.err;
    EXPECT_TRUE(fs::is_directory(folder / "pershome"));

    // A read-only stick (the lock switch), even when forced.
    const fs::path ro = tmp / "locked";
    fs::create_directories(ro);
    ASSERT_EQ(::mount("tmpfs", ro.c_str(), "tmpfs", MS_RDONLY, "size=1m"), 0);
    auto locked = run_ctl({"prepare", "--force", ro.string()});
    EXPECT_EQ(locked.status, 1);
    EXPECT_NE(locked.err.find("is read-only (is its lock switch on?)"), std::string::npos)
        << locked.err;
    ::umount(ro.c_str());

    // A device node that is not mounted: it says what to do.
    const fs::path node = tmp / "sdz1";
    ASSERT_EQ(::mknod(node.c_str(), S_IFBLK | 0600, makedev(7, 250)), 0);
    auto unmounted = run_ctl({"prepare", node.string()});
    EXPECT_EQ(unmounted.status, 1);
    EXPECT_NE(unmounted.err.find(node.string() + " is not mounted: open the stick in the file "
                                                 "manager"),
              std::string::npos)
        << unmounted.err;
}

}  // namespace
}  // namespace pershome::test
