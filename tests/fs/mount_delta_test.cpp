// Small changes, small writes (on-stick format v2, delta records): creates
// that must reach the index at once (a tight mode, a generated name) cost
// about one 4 KiB record each, not a rewrite of the whole directory's index.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <functional>

#include <gtest/gtest.h>

#include "tests/fs/mount_harness.hpp"

namespace pershome::fs::test {
namespace {

constexpr int kCreates = 1000;
// Today's figure before deltas: ~48 KB per create (the whole index each
// time, growing with the directory). With deltas: one 4 KiB page per
// create, plus a full slot whenever the deltas reach half of it.
constexpr long long kMaxBytesPerCreate = 16 * 1024;

mode_t mode_of(const std::string& p) {
    struct stat st {};
    return stat(p.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

// Creates kCreates files named by `name` with `mode` in one directory and
// returns the index bytes written in the whole mount (the unmount's line).
long long bytes_for_creates(TempTree& t, const std::function<std::string(int)>& name, mode_t mode) {
    Mount m(t.backing(), t.mnt(), "flush=3600");
    EXPECT_EQ(mkdir(m.path("d").c_str(), 0755), 0);
    for (int i = 0; i < kCreates; ++i) {
        const int fd = open(m.path("d/" + name(i)).c_str(), O_CREAT | O_EXCL | O_WRONLY, mode);
        EXPECT_GE(fd, 0) << name(i);
        if (fd >= 0) close(fd);
    }
    const std::string log = m.unmount();
    const long long bytes = index_write_bytes(log);
    EXPECT_GT(bytes, 0) << log;
    struct stat idx {};
    stat((t.backing() + "/d/PERSHOME.IDX").c_str(), &idx);
    std::printf(
        "delta: %d creates (%s...): %ld index writes, %lld bytes, %lld per create; index file "
        "%lld bytes\n",
        kCreates, name(1).c_str(), index_writes(log), bytes, bytes / kCreates,
        static_cast<long long>(idx.st_size));
    return bytes;
}

TEST(Delta, ThousandTightCreatesWriteLinearBytes) {
    TempTree t;
    const long long bytes = bytes_for_creates(
        t, [](int i) { return "cache" + std::to_string(i); }, 0600);
    EXPECT_LT(bytes / kCreates, kMaxBytesPerCreate);
    Mount m(t.backing(), t.mnt());
    for (int i = 0; i < kCreates; i += 97)
        EXPECT_EQ(mode_of(m.path("d/cache" + std::to_string(i))), 0600u) << i;
}

TEST(Delta, ThousandGeneratedNamesWriteLinearBytes) {
    TempTree t;
    const long long bytes = bytes_for_creates(
        t, [](int i) { return "a:b" + std::to_string(i); }, 0644);
    EXPECT_LT(bytes / kCreates, kMaxBytesPerCreate);
    Mount m(t.backing(), t.mnt());
    for (int i = 0; i < kCreates; i += 97)
        EXPECT_EQ(mode_of(m.path("d/a:b" + std::to_string(i))), 0644u) << i;
}

// Deltas and the full slots that follow them, across remounts and a
// SIGKILL: every acknowledged create is there with its mode.
TEST(Delta, RemountsAndKillKeepEveryCreate) {
    TempTree t;
    int made = 0;
    for (int round = 0; round < 3; ++round) {
        Mount m(t.backing(), t.mnt(), "flush=3600");
        if (round == 0) {
            ASSERT_EQ(mkdir(m.path("d").c_str(), 0755), 0);
        }
        for (int i = 0; i < 150; ++i, ++made) {
            const int fd = open(m.path("d/k" + std::to_string(made)).c_str(),
                                O_CREAT | O_EXCL | O_WRONLY, 0600 | (made % 2 ? 040 : 0));
            ASSERT_GE(fd, 0);
            close(fd);
        }
        ASSERT_EQ(unlink(m.path("d/k" + std::to_string(made - 3)).c_str()), 0);
        ASSERT_EQ(rename(m.path("d/k" + std::to_string(made - 2)).c_str(),
                         m.path("d/r:" + std::to_string(made - 2)).c_str()),
                  0);
        if (round == 1) {
            // As a power cut: no flush, no unmount.
            ASSERT_EQ(kill(m.pid(), SIGKILL), 0);
            ASSERT_EQ(umount2(m.mnt().c_str(), MNT_DETACH), 0);
            m.unmount();
        }
    }
    Mount m(t.backing(), t.mnt());
    for (int i = 0; i < made; ++i) {
        const std::string n = "d/k" + std::to_string(i);
        if (i % 150 == 147) {
            EXPECT_EQ(mode_of(m.path(n)), 0u) << n;
        } else if (i % 150 == 148) {
            EXPECT_EQ(mode_of(m.path("d/r:" + std::to_string(i))), 0600u | (i % 2 ? 040u : 0u));
        } else {
            EXPECT_EQ(mode_of(m.path(n)), 0600u | (i % 2 ? 040u : 0u)) << n;
        }
    }
}

}  // namespace
}  // namespace pershome::fs::test
