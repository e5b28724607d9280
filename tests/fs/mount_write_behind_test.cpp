// Write-behind (fs/write_behind.hpp): a large write(2) returns while its data
// is still on the way to the stick, and nothing the user can observe shows
// it: sizes, reads, truncates and fsync all come after the write, errors are
// still reported, a full stick still answers ENOSPC from write(2). The
// backing is the gated passthrough (gate_backing.cpp), whose data writes
// can be held or made to fail like a slow or broken stick's, and a small
// tmpfs for a stick that fills up.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <future>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/fs/gated_backing.hpp"
#include "tests/fs/mount_harness.hpp"

namespace pershome::fs::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kAnswerDeadline = 3s;
constexpr auto kEventDeadline = 20s;
// One full request (max_write, fs/op_init.cpp): it arrives spliced and is
// what write-behind takes.
constexpr std::size_t kChunk = 512 << 10;

off_t size_asked(const std::string& path) {
    struct statx sx {};
    // FORCE_SYNC: pershome-fs answers, not the kernel's cached attributes.
    if (statx(AT_FDCWD, path.c_str(), AT_STATX_FORCE_SYNC, STATX_SIZE, &sx) != 0) return -1;
    return static_cast<off_t>(sx.stx_size);
}

// Writes `data` at offset 0 of `fd` with the data gate closed: succeeds if
// write(2) returned all of it while the stick still held it. The gate stays
// closed then; on a failure it opens first (a thread still blocked behind
// it would keep its future, and the test, from ending).
testing::AssertionResult write_while_held(GatedBacking& g, int fd, const std::vector<char>& data) {
    g.close_data_gate();
    auto wrote =
        std::async(std::launch::async, [&] { return pwrite(fd, data.data(), data.size(), 0); });
    if (!wait_until([&] { return g.holding_data(); }, kEventDeadline)) {
        g.open_data_gate();
        return testing::AssertionFailure() << "the data never reached the backing";
    }
    if (wrote.wait_for(kAnswerDeadline) != std::future_status::ready) {
        g.open_data_gate();
        return testing::AssertionFailure() << "write(2) waited for the stick";
    }
    const ssize_t n = wrote.get();
    if (n != static_cast<ssize_t>(data.size()))
        return testing::AssertionFailure() << "write(2) returned " << n;
    return testing::AssertionSuccess();
}

TEST(WriteBehind, SizeReadTruncateAndFsyncComeAfterAHeldWrite) {
    TempTree t;
    GatedBacking g(t.root());
    Mount m(g.mnt(), t.mnt(), "flush=3600");
    const std::string path = m.path("big");
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    const std::vector<char> a(kChunk, 'A');

    ASSERT_TRUE(write_while_held(g, fd, a));
    EXPECT_EQ(size_asked(path), static_cast<off_t>(kChunk)) << "stat missed a queued write";

    // The kernel's cached copy goes, so the read below asks pershome-fs.
    ASSERT_EQ(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    auto read_back = std::async(std::launch::async, [&] {
        std::string buf(4096, '\0');
        const int rfd = open(path.c_str(), O_RDONLY);
        const ssize_t n = rfd < 0 ? -1 : pread(rfd, buf.data(), buf.size(), 0);
        if (rfd >= 0) close(rfd);
        buf.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
        return buf;
    });
    EXPECT_EQ(read_back.wait_for(300ms), std::future_status::timeout) << "read overtook the write";
    g.open_data_gate();
    ASSERT_EQ(read_back.wait_for(kEventDeadline), std::future_status::ready);
    EXPECT_EQ(read_back.get(), std::string(4096, 'A'));

    // Again, now with a truncate and an fsync behind the held write.
    const std::vector<char> b(kChunk, 'B');
    ASSERT_TRUE(write_while_held(g, fd, b));
    auto truncated = std::async(std::launch::async, [&] { return ftruncate(fd, 1000); });
    auto synced = std::async(std::launch::async, [&] { return fsync(fd); });
    EXPECT_EQ(truncated.wait_for(300ms), std::future_status::timeout)
        << "truncate overtook the write";
    EXPECT_EQ(synced.wait_for(0s), std::future_status::timeout) << "fsync overtook the write";
    g.open_data_gate();
    ASSERT_EQ(truncated.wait_for(kEventDeadline), std::future_status::ready);
    ASSERT_EQ(synced.wait_for(kEventDeadline), std::future_status::ready);
    EXPECT_EQ(truncated.get(), 0);
    EXPECT_EQ(synced.get(), 0);
    ASSERT_EQ(fsync(fd), 0);
    // What the stick holds: the write, then the truncate.
    EXPECT_EQ(read_file(g.source() + "/big"), std::string(1000, 'B'));
    EXPECT_EQ(size_asked(path), 1000);

    // And an open with O_TRUNC (as `cp` or a shell's `>` make) behind one.
    ASSERT_TRUE(write_while_held(g, fd, b));
    auto reopened = std::async(std::launch::async, [&] {
        const int tfd = open(path.c_str(), O_WRONLY | O_TRUNC);
        if (tfd >= 0) close(tfd);
        return tfd >= 0;
    });
    EXPECT_EQ(reopened.wait_for(300ms), std::future_status::timeout)
        << "open(O_TRUNC) overtook the write";
    g.open_data_gate();
    ASSERT_EQ(reopened.wait_for(kEventDeadline), std::future_status::ready);
    EXPECT_TRUE(reopened.get());
    close(fd);
    EXPECT_EQ(size_asked(path), 0);
    EXPECT_EQ(std::filesystem::file_size(g.source() + "/big"), 0u);
}

TEST(WriteBehind, AWriteThatFailsLaterIsReportedByFsyncAndLogged) {
    TempTree t;
    GatedBacking g(t.root());
    Mount m(g.mnt(), t.mnt(), "flush=3600");
    const std::string path = m.path("bad");
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    const std::vector<char> a(kChunk, 'A');

    // A second handle, open before the failure, e.g. a second writer.
    const int other = open(path.c_str(), O_WRONLY);
    ASSERT_GE(other, 0);

    g.fail_data_writes(true);
    // Taken and answered before the stick fails it...
    ASSERT_EQ(pwrite(fd, a.data(), a.size(), 0), static_cast<ssize_t>(kChunk));
    // ...and a reader that opens and closes the file meanwhile (an indexer,
    // a thumbnailer) does not take the error away from the writer...
    const int reader = open(path.c_str(), O_RDONLY);
    ASSERT_GE(reader, 0);
    close(reader);
    // ...so the next fsync says so, and only once; so does the other's.
    EXPECT_EQ(fsync(fd), -1);
    EXPECT_EQ(errno, EIO);
    EXPECT_EQ(fsync(other), -1);
    EXPECT_EQ(errno, EIO);
    EXPECT_EQ(fsync(other), 0);
    close(other);
    g.fail_data_writes(false);
    ASSERT_EQ(pwrite(fd, a.data(), a.size(), 0), static_cast<ssize_t>(kChunk));
    EXPECT_EQ(fsync(fd), 0);

    // A failure nobody asked about before close is logged.
    g.fail_data_writes(true);
    ASSERT_EQ(pwrite(fd, a.data(), a.size(), static_cast<off_t>(kChunk)),
              static_cast<ssize_t>(kChunk));
    close(fd);
    const std::string log = m.unmount();
    EXPECT_NE(log.find("/bad: a write failed after write(2) had returned: Input/output error"),
              std::string::npos)
        << log;
}

// Without -f pershome-fs forks into the background: the worker must run in
// the process that serves the mount (a thread started before the fork
// would not, and every queued write would wait forever).
TEST(WriteBehind, WritesLandWhenPershomeFsRunsInTheBackground) {
    TempTree t;
    const std::string log = t.root() + "/daemon.log";
    const pid_t starter =
        spawn_logged({fs_binary(), "-o", "flush=3600", t.backing(), t.mnt()}, log);
    int status = 0;
    ASSERT_TRUE(wait_until([&] { return waitpid(starter, &status, WNOHANG) == starter; }, 10s));
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(log);
    ASSERT_TRUE(wait_until([&] { return is_mounted(t.mnt()); }, 10s)) << read_file(log);
    // In a child, so that a hang ends with the test: the mount is then
    // forced off (which answers every waiting request with an error).
    const pid_t writer = fork();
    if (writer == 0) {
        const std::vector<char> c(kChunk, 'C');
        const int fd = open((t.mnt() + "/bg").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        bool ok = fd >= 0;
        for (int i = 0; ok && i < 8; ++i)
            ok = pwrite(fd, c.data(), c.size(), static_cast<off_t>(i) * kChunk) ==
                 static_cast<ssize_t>(kChunk);
        ok = ok && fsync(fd) == 0 && close(fd) == 0;
        _exit(ok ? 0 : 1);
    }
    ASSERT_GT(writer, 0);
    const bool done = wait_until([&] { return waitpid(writer, &status, WNOHANG) == writer; }, 20s);
    if (!done) {
        umount2(t.mnt().c_str(), MNT_FORCE);
        waitpid(writer, &status, 0);
    }
    EXPECT_TRUE(done) << "8 writes of 512 KiB and an fsync did not finish within 20 s";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_EQ(std::filesystem::file_size(t.backing() + "/bg"), 8 * kChunk);
    EXPECT_EQ(umount2(t.mnt().c_str(), done ? 0 : MNT_DETACH), 0);
}

TEST(WriteBehind, AFullStickAnswersEnospcFromWriteAndKeepsWhatItAcknowledged) {
    TempTree t;
    const std::string small = t.root() + "/small";
    std::filesystem::create_directory(small);
    // A stick with 80 MiB: write-behind keeps a 64 MiB margin, so the last
    // writes before it fills are made while write(2) waits.
    ASSERT_EQ(mount("tmpfs", small.c_str(), "tmpfs", 0, "size=80m"), 0) << std::strerror(errno);
    {
        Mount m(small, t.mnt(), "flush=3600");
        const int fd = open(m.path("fill").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ASSERT_GE(fd, 0);
        const std::vector<char> b(kChunk, 'B');
        off_t acked = 0;
        int err = 0;
        for (int i = 0; i < 400 && err == 0; ++i) {
            const ssize_t n = pwrite(fd, b.data(), b.size(), acked);
            if (n < 0) err = errno;
            if (n > 0) acked += n;
        }
        EXPECT_EQ(err, ENOSPC) << "write(2) never said the stick was full";
        EXPECT_GT(acked, off_t{70} << 20);
        // Nothing acknowledged was lost on the way. (Not checked with fsync:
        // its index write finds the stick full.)
        struct stat st {};
        EXPECT_TRUE(wait_until(
            [&] { return stat((small + "/fill").c_str(), &st) == 0 && st.st_size == acked; },
            kEventDeadline))
            << "the stick holds " << st.st_size << " of " << acked << " acknowledged bytes";
        close(fd);
        ASSERT_EQ(unlink(m.path("fill").c_str()), 0);
    }
    umount2(small.c_str(), MNT_DETACH);
}

}  // namespace
}  // namespace pershome::fs::test
