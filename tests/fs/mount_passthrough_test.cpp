// Kernel passthrough (fs/passthrough.hpp): a file opened read-only is read
// by the kernel straight from its backing file, and nothing a user can see
// changes: the data, the owner and mode pershome-fs shows, a writer beside
// such a reader (whose writes still move mtime, kept across a remount), a
// shared mapping. Whether reads bypassed the daemon is told by its log line
// at unmount ("read requests for N bytes, P opens passed through"), checked
// against passthrough=off, where the same reads must reach it.
// Needs Linux 6.9 or later with CONFIG_FUSE_PASSTHROUGH, root outside a user
// namespace, and a temp dir on a filesystem that is not stacked or FAT: the
// tests skip, saying which, where one is missing.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/unique_fd.hpp"
#include "tests/fs/mount_harness.hpp"

namespace pershome::fs::test {
namespace {

constexpr std::size_t kBig = 4 << 20;

// Why passthrough cannot work here, or empty.
std::string missing_for_passthrough(const std::string& dir) {
    utsname u{};
    int major = 0, minor = 0;
    if (uname(&u) != 0 || std::sscanf(u.release, "%d.%d", &major, &minor) != 2 ||
        !(major > 6 || (major == 6 && minor >= 9)))
        return "kernel older than 6.9";
    if (std::filesystem::exists("/proc/config.gz") &&
        std::system("zgrep -q '^CONFIG_FUSE_PASSTHROUGH=y' /proc/config.gz") != 0)
        return "kernel built without CONFIG_FUSE_PASSTHROUGH";
    if (read_file("/proc/self/uid_map").find("4294967295") == std::string::npos)
        return "in a user namespace (registering a backing file needs CAP_SYS_ADMIN)";
    struct statfs sf {};
    if (statfs(dir.c_str(), &sf) != 0) return "statfs of the temp dir failed";
    if (sf.f_type == 0x794c7630 /* overlayfs */ || sf.f_type == 0x65735546 /* FUSE */ ||
        sf.f_type == 0x4d44 /* FAT */)
        return "temp dir on overlayfs, FUSE or FAT";
    return {};
}

// The two numbers of the unmount line; {-1, -1} if absent.
std::pair<long long, long long> read_counters(const std::string& log) {
    long long bytes = -1, opens = -1;
    const auto at = log.find("read requests for ");
    if (at == std::string::npos ||
        std::sscanf(log.c_str() + at, "read requests for %lld bytes, %lld opens", &bytes, &opens) !=
            2)
        return {-1, -1};
    return {bytes, opens};
}

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
    return s;
}

std::string pread_all(int fd) {
    std::string out;
    char buf[65536];
    off_t off = 0;
    for (;;) {
        const ssize_t n = pread(fd, buf, sizeof buf, off);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        off += n;
    }
    return out;
}

bool later(const timespec& a, const timespec& b) {
    return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

class Passthrough : public testing::Test {
  protected:
    void SetUp() override {
        const std::string missing = missing_for_passthrough(t.root());
        if (!missing.empty()) GTEST_SKIP() << "no FUSE passthrough: " << missing;
    }
    TempTree t;
};

TEST_F(Passthrough, ReadOnlyOpensAreReadWithoutTheDaemon) {
    const std::string data = pattern(kBig);
    {
        Mount m(t.backing(), t.mnt());
        write_file(m.path("big"), data);
        m.unmount();
    }
    {
        Mount m(t.backing(), t.mnt());
        EXPECT_EQ(read_file(m.path("big")), data);
        const auto [bytes, opens] = read_counters(m.unmount());
        EXPECT_GE(opens, 1);
        EXPECT_LT(bytes, static_cast<long long>(kBig / 8)) << "the reads reached the daemon";
    }
    // The control: the same read with passthrough off goes through the daemon.
    Mount m(t.backing(), t.mnt(), "passthrough=off");
    EXPECT_EQ(read_file(m.path("big")), data);
    const auto [bytes, opens] = read_counters(m.unmount());
    EXPECT_EQ(opens, 0);
    EXPECT_GE(bytes, static_cast<long long>(kBig));
}

TEST_F(Passthrough, OwnerAndModeAreStillPershomes) {
    write_file(t.backing() + "/key", "secret\n");
    Mount m(t.backing(), t.mnt(), "uid=4321,gid=4322");
    ASSERT_EQ(chmod(m.path("key").c_str(), 0600), 0);
    UniqueFd r(open(m.path("key").c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(r);
    EXPECT_EQ(pread_all(r.get()), "secret\n");
    struct stat st {};
    ASSERT_EQ(fstat(r.get(), &st), 0);
    EXPECT_EQ(st.st_uid, 4321u);
    EXPECT_EQ(st.st_gid, 4322u);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    r.reset();
    EXPECT_GE(read_counters(m.unmount()).second, 1);
}

// The kernel makes every open of an inode pass through once one does: a
// writer beside a reader writes to the backing without pershome-fs, which
// must still move mtime and keep it.
TEST_F(Passthrough, WriterBesideAReaderMovesMtimeAndKeepsIt) {
    struct stat after {};
    {
        write_file(t.backing() + "/log", "one\n");
        Mount m(t.backing(), t.mnt());
        UniqueFd r(open(m.path("log").c_str(), O_RDONLY | O_CLOEXEC));
        ASSERT_TRUE(r);
        EXPECT_EQ(pread_all(r.get()), "one\n");
        struct stat before {};
        ASSERT_EQ(stat(m.path("log").c_str(), &before), 0);

        UniqueFd w(open(m.path("log").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
        ASSERT_TRUE(w) << std::strerror(errno);
        ASSERT_EQ(write(w.get(), "two\n", 4), 4);
        EXPECT_EQ(pread_all(r.get()), "one\ntwo\n");  // the reader sees it at once
        ASSERT_EQ(stat(m.path("log").c_str(), &after), 0);
        EXPECT_EQ(after.st_size, 8);
        EXPECT_TRUE(later(after.st_mtim, before.st_mtim)) << "mtime did not move";
        EXPECT_TRUE(later(after.st_ctim, before.st_ctim)) << "ctime did not move";

        ASSERT_EQ(ftruncate(w.get(), 4), 0);
        EXPECT_EQ(pread_all(r.get()), "one\n");
        ASSERT_EQ(write(w.get(), "three\n", 6), 6);
        w.reset();
        r.reset();
        ASSERT_EQ(stat(m.path("log").c_str(), &after), 0);
        EXPECT_GE(read_counters(m.unmount()).second, 2);
    }
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(read_file(m.path("log")), "one\nthree\n");
    struct stat again {};
    ASSERT_EQ(stat(m.path("log").c_str(), &again), 0);
    EXPECT_EQ(again.st_mtim.tv_sec, after.st_mtim.tv_sec);
    EXPECT_EQ(again.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
}

// A time set explicitly while a writer passes through is the one kept:
// the backing's own change (its coarse copy of mtime) is no write.
TEST_F(Passthrough, TimeSetBesideAWriterIsKept) {
    write_file(t.backing() + "/f", "one\n");
    const timespec set[2] = {{1000000000, 123456789}, {1500000000, 987654321}};
    {
        Mount m(t.backing(), t.mnt());
        UniqueFd r(open(m.path("f").c_str(), O_RDONLY | O_CLOEXEC));
        ASSERT_TRUE(r);
        UniqueFd w(open(m.path("f").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
        ASSERT_TRUE(w);
        ASSERT_EQ(write(w.get(), "two\n", 4), 4);
        ASSERT_EQ(futimens(w.get(), set), 0);
        struct stat st {};
        ASSERT_EQ(fstat(r.get(), &st), 0);
        EXPECT_EQ(st.st_mtim.tv_sec, set[1].tv_sec);
        EXPECT_EQ(st.st_mtim.tv_nsec, set[1].tv_nsec);
        w.reset();
        r.reset();
        EXPECT_GE(read_counters(m.unmount()).second, 2);
    }
    Mount m(t.backing(), t.mnt());
    struct stat st {};
    ASSERT_EQ(stat(m.path("f").c_str(), &st), 0);
    EXPECT_EQ(st.st_mtim.tv_sec, set[1].tv_sec);
    EXPECT_EQ(st.st_mtim.tv_nsec, set[1].tv_nsec);
    EXPECT_EQ(read_file(m.path("f")), "one\ntwo\n");
}

// A reader arriving while a writer (by way of the daemon) has the file open
// does not pass through, and sees what was written. Once the daemon has
// seen the writer's release (the kernel sends it after close() returned),
// the next reader passes through and must find every byte on the backing,
// the writes still queued at the close included; before that it reads by
// way of the daemon. Either way it sees all the data.
TEST_F(Passthrough, ReaderAfterAWriterSeesAllItWrote) {
    const std::string data = pattern(kBig);
    Mount m(t.backing(), t.mnt());
    UniqueFd w(open(m.path("f").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_TRUE(w);
    ASSERT_EQ(write(w.get(), data.data(), data.size()), static_cast<ssize_t>(data.size()));
    {
        UniqueFd r(open(m.path("f").c_str(), O_RDONLY | O_CLOEXEC));
        ASSERT_TRUE(r) << std::strerror(errno);
        EXPECT_EQ(pread_all(r.get()), data);
    }
    w.reset();
    UniqueFd r(open(m.path("f").c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(r) << std::strerror(errno);
    EXPECT_EQ(pread_all(r.get()), data);
}

TEST_F(Passthrough, SharedMappingSeesTheWriter) {
    write_file(t.backing() + "/m", std::string(8192, 'a'));
    Mount m(t.backing(), t.mnt());
    UniqueFd r(open(m.path("m").c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(r);
    void* p = mmap(nullptr, 8192, PROT_READ, MAP_SHARED, r.get(), 0);
    ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
    const char* c = static_cast<const char*>(p);
    EXPECT_EQ(c[4096], 'a');
    UniqueFd w(open(m.path("m").c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(w) << std::strerror(errno);
    ASSERT_EQ(pwrite(w.get(), "b", 1, 4096), 1);
    EXPECT_EQ(c[4096], 'b');
    munmap(p, 8192);
    w.reset();
    r.reset();
    EXPECT_GE(read_counters(m.unmount()).second, 2);
}

}  // namespace
}  // namespace pershome::fs::test
