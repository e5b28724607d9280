// Real programs in the mounted home: tar, git, ssh-keygen, rsync, and the
// exit paths (SIGTERM, mount -t fuse.pershome-fs).
#include <dirent.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "tests/fs/mount_harness.hpp"
#include "tests/support/process.hpp"

namespace pershome::fs::test {
namespace {

// A shell command line under set -e, with a deadline; its exit status.
int sh(const std::string& cmd) {
    return ::pershome::test::run_shell(cmd);
}

bool have(const std::string& prog) {
    return sh("command -v " + prog + " >/dev/null") == 0;
}

// A tree with what tar and rsync must carry: odd names, modes, times,
// symlinks, hard links, a fifo, an empty directory.
void make_tree(const std::string& d) {
    ASSERT_EQ(sh("mkdir -p '" + d + "/sub dir/deeper' '" + d + "/empty'"), 0);
    ASSERT_EQ(
        sh("cd '" + d +
           "' && printf 1 > Makefile && printf 2 > makefile && printf 3 > 'a:b'"
           " && printf 4 > 'what?' && printf 5 > 'x.' && printf 6 > CON && printf 7 > 'sub "
           "dir/aux.txt'"
           " && printf 8 > \"$(printf 'bad\\377name')\" && printf 9 > 'sub dir/deeper/caf\xc3\xa9'"
           " && ln -s '../a:b' 'sub dir/rel link' && ln -s /nonexistent/dangling dangling"
           " && ln Makefile hard1 && ln Makefile 'sub dir/hard2' && mkfifo fifo"
           " && chmod 600 makefile && chmod 751 'sub dir' && chmod 444 'what?'"
           // rsync leaves sub-second differences on non-files alone: use
           // one old time everywhere so listings compare exactly.
           " && find . -depth -exec touch -h -d '2001-02-03 04:05:06.123456789' {} +"),
        0);
}

class Programs : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_EQ(mkdir((t.root() + "/home").c_str(), 0700), 0);
        setenv("HOME", (t.root() + "/home").c_str(), 1);
        setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    }
    TempTree t;
};

TEST_F(Programs, TarRoundTripCompares) {
    const std::string src = t.root() + "/src", tarball = t.root() + "/tree.tar";
    make_tree(src);
    ASSERT_EQ(sh("tar -C '" + src + "' -cf '" + tarball + "' ."), 0);
    {
        Mount m(t.backing(), t.mnt());
        ASSERT_EQ(sh("tar -C '" + t.mnt() + "' -xpf '" + tarball + "'"), 0);
        EXPECT_EQ(sh("tar -C '" + t.mnt() + "' -df '" + tarball + "'"), 0);
        m.unmount();
    }
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(sh("tar -C '" + t.mnt() + "' -df '" + tarball + "'"), 0);
    // Hard links came through as hard links.
    struct stat a {
    }, b{};
    ASSERT_EQ(stat(m.path("Makefile").c_str(), &a), 0);
    ASSERT_EQ(stat(m.path("sub dir/hard2").c_str(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino);
    EXPECT_EQ(a.st_nlink, 3u);
}

TEST_F(Programs, GitCommitAndStatusCleanWithoutRewritingItsIndexAfterRemount) {
    {
        Mount m(t.backing(), t.mnt());
        const std::string repo = m.path("project");
        ASSERT_EQ(sh("mkdir '" + repo + "' && cd '" + repo +
                     "' && git init -q"
                     " && printf 'all:\\n' > Makefile && printf 'x' > 'odd:name?'"
                     " && ln -s Makefile link && chmod +x Makefile"
                     // Files changed in the second the index is written
                     // are "racily clean" to git, which checks them again
                     // at every status: older times keep this test about
                     // st_ino.
                     " && touch -h -d '2001-02-03 04:05:06' Makefile 'odd:name?' link"
                     " && git add -A && git -c user.name=t -c user.email=t@e commit -qm first"
                     " && test -z \"$(git status --porcelain)\""),
                  0);
        m.unmount();
    }
    Mount m(t.backing(), t.mnt());
    // git compares each file's stat with its index; a file whose st_ino
    // changed is hashed again and the whole index rewritten, at every
    // login. With st_ino kept across the remount, git status after it
    // reads no file and writes nothing to the stick.
    struct stat before {
    }, after{};
    ASSERT_EQ(stat(m.path("project/.git/index").c_str(), &before), 0);
    EXPECT_EQ(sh("cd '" + m.path("project") +
                 "' && test -z \"$(git status --porcelain)\""
                 " && git fsck --no-progress 2>&1 | (! grep -q error)"),
              0);
    ASSERT_EQ(stat(m.path("project/.git/index").c_str(), &after), 0);
    EXPECT_EQ(after.st_ino, before.st_ino) << "git status rewrote .git/index after a remount";
    EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
}

TEST_F(Programs, SshKeygenKeyIsAccepted) {
    Mount m(t.backing(), t.mnt());
    ASSERT_EQ(sh("mkdir -m 700 '" + m.path(".ssh") + "' && ssh-keygen -q -t ed25519 -N '' -f '" +
                 m.path(".ssh/id_ed25519") + "'"),
              0);
    struct stat st {};
    ASSERT_EQ(stat(m.path(".ssh/id_ed25519").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    // ssh-keygen -y refuses a key whose mode is too open.
    EXPECT_EQ(sh("ssh-keygen -y -f '" + m.path(".ssh/id_ed25519") + "' >/dev/null"), 0);
}

TEST_F(Programs, RsyncRoundTrip) {
    if (!have("rsync")) GTEST_SKIP() << "rsync not installed";
    const std::string src = t.root() + "/src";
    make_tree(src);
    Mount m(t.backing(), t.mnt());
    ASSERT_EQ(sh("rsync -aH '" + src + "/' '" + m.path("copy") + "/'"), 0);
    // A second run finds nothing to do, and the copy back is identical.
    EXPECT_EQ(sh("test -z \"$(rsync -aHi --dry-run '" + src + "/' '" + m.path("copy") + "/')\""),
              0);
    ASSERT_EQ(sh("rsync -aH '" + m.path("copy") + "/' '" + t.root() + "/back/'"), 0);
    // Same contents (diff cannot compare fifos) and the same stat listing.
    EXPECT_EQ(sh("diff -r --no-dereference -x fifo '" + src + "' '" + t.root() + "/back'"), 0);
    auto listing = [](const std::string& d) {
        // Directories show st_nlink 1 (as on btrfs): not compared.
        return "(cd '" + d + "' && { find . ! -type d -printf '%p %y %m %s %n %T@ %l\\n';" +
               " find . -type d -printf '%p %y %m %T@\\n'; } | sort)";
    };
    EXPECT_EQ(sh("diff <" + listing(src) + " <" + listing(m.path("copy"))), 0);
    EXPECT_EQ(sh("diff <" + listing(src) + " <" + listing(t.root() + "/back")), 0);
}

TEST_F(Programs, SigtermFlushesMetadata) {
    Mount m(t.backing(), t.mnt(), "flush=3600");
    write_file(m.path("f"), "x");
    ASSERT_EQ(chmod(m.path("f").c_str(), 0604), 0);
    ASSERT_EQ(kill(m.pid(), SIGTERM), 0);
    const std::string log = m.unmount();
    EXPECT_EQ(index_writes(log), 1) << log;
    Mount m2(t.backing(), t.mnt());
    struct stat st {};
    ASSERT_EQ(stat(m2.path("f").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0604u);
}

// SIGTERM while a program holds a directory open (a file manager, a
// shell's glob): the kernel never sends that handle's RELEASEDIR, and the
// filesystem still ends cleanly, freeing it (the ASan build's LeakSanitizer
// reported the handle before; Mount::unmount fails on such a report).
TEST_F(Programs, SigtermWithADirectoryOpenEndsCleanly) {
    Mount m(t.backing(), t.mnt(), "flush=3600");
    ASSERT_EQ(mkdir(m.path("d").c_str(), 0755), 0);
    write_file(m.path("d/f"), "x");
    DIR* dir = opendir(m.path("d").c_str());
    ASSERT_NE(dir, nullptr);
    ASSERT_NE(readdir(dir), nullptr);
    ASSERT_EQ(kill(m.pid(), SIGTERM), 0);
    const std::string log = m.unmount();
    EXPECT_EQ(index_writes(log), 2) << log;  // the root's and d's
    closedir(dir);
}

TEST_F(Programs, MountTypeFusePershomeFs) {
    if (!have("mount.fuse3")) GTEST_SKIP() << "mount.fuse3 not installed";
    // `mount -t fuse.pershome-fs B M -o O` runs `mount.fuse B M -o O -t
    // fuse.pershome-fs`, which runs `pershome-fs B M -o O` from PATH (mount
    // itself resets PATH, so the helper is called directly here).
    const std::string dir = std::filesystem::path(fs_binary()).parent_path().string();
    ASSERT_EQ(sh("PATH='" + dir + "':$PATH mount.fuse3 '" + t.backing() + "' '" + t.mnt() +
                 "' -o flush=2,nofail,rw,dev,suid -t fuse.pershome-fs"),
              0);
    EXPECT_TRUE(is_mounted(t.mnt()));
    write_file(t.mnt() + "/via-mount", "m");
    EXPECT_EQ(sh("grep -q ' " + t.mnt() + " .* fuse.pershome-fs ' /proc/self/mountinfo"), 0);
    EXPECT_EQ(sh("grep ' " + t.mnt() + " ' /proc/self/mountinfo | grep -q nosuid"), 0);
    ASSERT_EQ(umount2(t.mnt().c_str(), 0), 0);
    // The daemonised filesystem flushes and exits after the unmount.
    for (int i = 0; i < 200 && !std::filesystem::exists(t.backing() + "/PERSHOME.IDX"); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(read_file(t.backing() + "/via-mount"), "m");
}

// The tuning options mount and reach the kernel; a bad value is refused
// with the option's name, before anything is mounted.
TEST_F(Programs, TuningOptions) {
    {
        // passthrough=off: the reads below reach the daemon, in max_read pieces.
        Mount m(t.backing(), t.mnt(), "max_read=65536,max_threads=2,passthrough=off");
        EXPECT_EQ(sh("grep ' " + t.mnt() + " ' /proc/self/mountinfo | grep -q max_read=65536"), 0);
        ASSERT_EQ(sh("head -c 3000000 /dev/urandom > '" + t.root() + "/r' && cp '" + t.root() +
                     "/r' '" + t.mnt() + "/r' && cmp '" + t.root() + "/r' '" + t.mnt() + "/r'"),
                  0);
        m.unmount();
    }
    for (const char* bad : {"max_threads=0", "max_threads=x", "max_read=100", "passthrough=yes"}) {
        const std::string err = t.root() + "/err";
        EXPECT_NE(sh("'" + fs_binary() + "' -f -o " + bad + " '" + t.backing() + "' '" + t.mnt() +
                     "' 2>'" + err + "'"),
                  0)
            << bad;
        const std::string key = std::string(bad).substr(0, std::string(bad).find('=') + 1);
        EXPECT_NE(read_file(err).find("bad " + key + " value"), std::string::npos)
            << read_file(err);
        EXPECT_FALSE(is_mounted(t.mnt()));
    }
}

}  // namespace
}  // namespace pershome::fs::test
