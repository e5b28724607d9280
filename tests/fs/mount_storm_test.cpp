// Sparing the flash: a storm of attribute changes is written back lazily.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>

#include <gtest/gtest.h>

#include "tests/fs/mount_harness.hpp"

namespace pershome::fs::test {
namespace {

TEST(Storm, TenThousandAttributeChangesWriteTheIndexAHandfulOfTimes) {
    TempTree t;
    const auto start = std::chrono::steady_clock::now();
    Mount m(t.backing(), t.mnt(), "flush=5");
    for (int i = 0; i < 100; ++i) write_file(m.path("f" + std::to_string(i)), "x");
    for (int round = 0; round < 100; ++round) {
        for (int i = 0; i < 100; ++i) {
            const std::string p = m.path("f" + std::to_string(i));
            if (round % 2) {
                ASSERT_EQ(chmod(p.c_str(), (round % 4 == 1) ? 0600 : 0644), 0);
            } else {
                const timespec ts[2] = {{round, 1}, {1000000 + round * 100 + i, 12345}};
                ASSERT_EQ(utimensat(AT_FDCWD, p.c_str(), ts, 0), 0);
            }
        }
    }
    const std::string log = m.unmount();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const long writes = index_writes(log);
    ASSERT_GE(writes, 1) << log;
    // At most one write per flush interval, plus the final one at unmount.
    EXPECT_LE(writes, static_cast<long>(std::ceil(seconds / 5)) + 2) << log << seconds << " s";
    std::printf("storm: 10000 changes in %.2f s, %ld index writes (%s)\n", seconds, writes,
                log.c_str());
    // And the last state is what the next mount shows.
    Mount m2(t.backing(), t.mnt());
    struct stat st {};
    ASSERT_EQ(stat(m2.path("f7").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);  // round 99: 99 % 4 == 3
    EXPECT_EQ(st.st_mtim.tv_sec, 1000000 + 98 * 100 + 7);
    EXPECT_EQ(st.st_mtim.tv_nsec, 12345);
}

}  // namespace
}  // namespace pershome::fs::test
