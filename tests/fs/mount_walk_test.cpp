// A walk of many directories: pershome-fs keeps a bounded number of backing
// directory fds open (Fs::dir_fd), whatever the walk visited, and a
// directory whose fd was closed works as before (opened again by its
// current backing name, also after a rename).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "tests/fs/mount_harness.hpp"

namespace pershome::fs::test {
namespace {

int open_fds(pid_t pid) {
    int n = 0;
    for ([[maybe_unused]] const auto& e :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
        ++n;
    return n;
}

// Names and attributes of everything below `dir`, as find -ls reads them.
int walk(const std::string& dir) {
    int seen = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
        struct stat st {};
        EXPECT_EQ(lstat(e.path().c_str(), &st), 0) << e.path();
        ++seen;
    }
    return seen;
}

TEST(Walk, OpenFdsStayBoundedAndEvictedDirectoriesStillWork) {
    constexpr int kDirs = 400;  // past the bound of 128 open directory fds
    constexpr int kBound = 128 + 32;
    TempTree t;
    for (int i = 0; i < kDirs; ++i) {
        const std::string d = t.backing() + "/d" + std::to_string(i);
        std::filesystem::create_directories(d + "/sub");
        write_file(d + "/f", std::to_string(i));
    }
    Mount m(t.backing(), t.mnt());
    const int before = open_fds(m.pid());
    EXPECT_EQ(walk(t.mnt()), kDirs * 3);
    const int after = open_fds(m.pid());
    std::printf("open fds: %d after mounting, %d after a walk of %d directories\n", before, after,
                kDirs * 2);
    // The bound (Fs::kDirFds) and what any mount holds besides (stdio,
    // /dev/fuse, the root, write-behind pipes: about 20); without it, one
    // fd per directory visited (over 800 here).
    EXPECT_LE(after, kBound);

    // d0's fd was closed long ago (least recently used): it opens again.
    write_file(m.path("d0/new"), "new");
    EXPECT_EQ(read_file(m.path("d0/new")), "new");
    EXPECT_EQ(read_file(m.path("d1/f")), "1");
    // A renamed directory whose fd was closed: opened by its new name.
    ASSERT_EQ(rename(m.path("d2").c_str(), m.path("renamed:2").c_str()), 0);
    EXPECT_EQ(walk(t.mnt()), kDirs * 3 + 1);
    EXPECT_EQ(read_file(m.path("renamed:2/f")), "2");
    write_file(m.path("renamed:2/sub/x?"), "x");
    ASSERT_EQ(rename(m.path("renamed:2/sub/x?").c_str(), m.path("d3/y*").c_str()), 0);
    EXPECT_LE(open_fds(m.pid()), kBound);
    m.unmount();

    Mount again(t.backing(), t.mnt());
    EXPECT_EQ(read_file(again.path("d0/new")), "new");
    EXPECT_EQ(read_file(again.path("renamed:2/f")), "2");
    EXPECT_EQ(read_file(again.path("d3/y*")), "x");
}

}  // namespace
}  // namespace pershome::fs::test
