// A file created with a mode tighter than reconcile's defaults keeps that
// mode across a crash right after the create (ssh-keygen's 0600 key must not
// come back 0644), while ordinary creates stay lazy (no index write).
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <optional>

#include <gtest/gtest.h>

#include "tests/fs/mount_harness.hpp"
#include "tests/support/process.hpp"

namespace pershome::fs::test {
namespace {

mode_t mode_of(const std::string& path) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) return static_cast<mode_t>(-1);
    return st.st_mode & 07777;
}

// The index file's bytes, or nullopt when there is none.
std::optional<std::string> index_bytes(const std::string& dir) {
    const std::string p = dir + "/PERSHOME.IDX";
    if (!std::filesystem::exists(p)) return std::nullopt;
    return read_file(p);
}

// A shell command line under set -e, with a deadline; its exit status.
int sh(const std::string& cmd) {
    return ::pershome::test::run_shell(cmd);
}

TEST(CreateMode, TightModesSurviveSigkillRightAfterCreate) {
    TempTree t;
    {
        Mount m(t.backing(), t.mnt(), "flush=3600");
        // A name not stored as itself takes the generated-name path (its
        // index write comes first, so it does not carry the creates below).
        ASSERT_EQ(close(open(m.path("key:old").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600)), 0);
        const auto before = index_bytes(t.backing());
        const int fd = open(m.path("id_ed25519").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(write(fd, "secret\n", 7), 7);
        ASSERT_EQ(close(fd), 0);
        ASSERT_EQ(mkdir(m.path(".ssh").c_str(), 0700), 0);
        // Inside the new directory (its own index), and by mknod.
        ASSERT_EQ(close(open(m.path(".ssh/known").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0640)), 0);
        ASSERT_EQ(mknod(m.path("by-mknod").c_str(), S_IFREG | 0600, 0), 0);
        EXPECT_NE(index_bytes(t.backing()), before) << "the create wrote no index";
        m.crash();
    }
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(mode_of(m.path("id_ed25519")), 0600u);
    EXPECT_EQ(read_file(m.path("id_ed25519")), "secret\n");
    EXPECT_EQ(mode_of(m.path(".ssh")), 0700u);
    EXPECT_EQ(mode_of(m.path(".ssh/known")), 0640u);
    EXPECT_EQ(mode_of(m.path("by-mknod")), 0600u);
    EXPECT_EQ(mode_of(m.path("key:old")), 0600u);
}

TEST(CreateMode, OrdinaryModesStayLazy) {
    TempTree t;
    {
        // An index to compare against (a symlink writes it at once).
        Mount m(t.backing(), t.mnt(), "flush=3600");
        ASSERT_EQ(symlink("target", m.path("link").c_str()), 0);
        m.unmount();
    }
    const auto before = index_bytes(t.backing());
    ASSERT_TRUE(before);
    {
        Mount m(t.backing(), t.mnt(), "flush=3600");
        ASSERT_EQ(close(open(m.path("plain").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644)), 0);
        ASSERT_EQ(close(open(m.path("shared").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0664)), 0);
        ASSERT_EQ(close(open(m.path("script").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0755)), 0);
        ASSERT_EQ(mkdir(m.path("dir").c_str(), 0755), 0);
        ASSERT_EQ(mknod(m.path("by-mknod").c_str(), S_IFREG | 0644, 0), 0);
        m.crash();
    }
    EXPECT_EQ(index_bytes(t.backing()), before) << "an ordinary create wrote the index";
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(mode_of(m.path("plain")), 0644u);
    EXPECT_EQ(mode_of(m.path("dir")), 0755u);
    // More than the default: a crash takes the extra bits away (documented).
    EXPECT_EQ(mode_of(m.path("script")), 0644u);
}

// The write counter: a tight create costs one index write, an ordinary one none
// (both end in the one write at unmount).
TEST(CreateMode, IndexWritesCounted) {
    TempTree t;
    Mount m(t.backing(), t.mnt(), "flush=3600");
    for (int i = 0; i < 10; ++i)
        ASSERT_EQ(close(open(m.path("open" + std::to_string(i)).c_str(),
                             O_CREAT | O_EXCL | O_WRONLY, 0644)),
                  0);
    long writes = index_writes(m.unmount());
    EXPECT_EQ(writes, 1);
    Mount m2(t.backing(), t.mnt(), "flush=3600");
    for (int i = 0; i < 10; ++i)
        ASSERT_EQ(close(open(m2.path("tight" + std::to_string(i)).c_str(),
                             O_CREAT | O_EXCL | O_WRONLY, 0600)),
                  0);
    writes = index_writes(m2.unmount());
    EXPECT_EQ(writes, 11);
}

// The mount's umask= sets reconcile's default: with umask=077 a 0600 create
// is ordinary and stays lazy; after a crash it is 0600 all the same.
TEST(CreateMode, MountUmaskSetsTheDefault) {
    TempTree t;
    {
        Mount m(t.backing(), t.mnt(), "flush=3600,umask=077");
        ASSERT_EQ(close(open(m.path("k").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600)), 0);
        m.crash();
    }
    EXPECT_FALSE(index_bytes(t.backing()));
    Mount m(t.backing(), t.mnt(), "umask=077");
    EXPECT_EQ(mode_of(m.path("k")), 0600u);
}

TEST(CreateMode, SshKeygenKeySurvivesSigkill) {
    if (sh("command -v ssh-keygen >/dev/null") != 0) GTEST_SKIP() << "ssh-keygen not installed";
    TempTree t;
    {
        Mount m(t.backing(), t.mnt(), "flush=3600");
        ASSERT_EQ(sh("mkdir -m 700 '" + m.path(".ssh") +
                     "' && ssh-keygen -q -t ed25519 -N '' -f '" + m.path(".ssh/id_ed25519") + "'"),
                  0);
        m.crash();
    }
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(mode_of(m.path(".ssh")), 0700u);
    EXPECT_EQ(mode_of(m.path(".ssh/id_ed25519")), 0600u);
    // ssh-keygen -y refuses a private key others can read.
    EXPECT_EQ(sh("ssh-keygen -y -f '" + m.path(".ssh/id_ed25519") + "' >/dev/null"), 0);
}

}  // namespace
}  // namespace pershome::fs::test
