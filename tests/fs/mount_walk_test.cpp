// A home at scale. A walk of many directories: pershome-fs keeps a bounded
// number of backing directory fds open (Fs::dir_fd), whatever the walk
// visited, and a directory whose fd was closed works as before (opened
// again by its current backing name, also after a rename). A directory
// whose metadata grows to the index's caps: the operation past them fails
// (ENOSPC), and the index written is one the next mount reads.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
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

TEST(Caps, XattrsPastTheIndexBudgetFailAndTheIndexStaysReadable) {
    TempTree t;
    const std::string value(60 * 1024, 'v');
    int files = 0;
    {
        Mount m(t.backing(), t.mnt());
        ASSERT_EQ(mkdir(m.path("D").c_str(), 0755), 0);
        int err = 0;
        for (; files < 200 && err == 0; ++files) {
            const std::string f = m.path("D/f" + std::to_string(files));
            write_file(f, "x");
            for (const char* k : {"user.a", "user.b", "user.c", "user.d"})
                if (setxattr(f.c_str(), k, value.data(), value.size(), 0) != 0) {
                    err = errno;
                    break;
                }
        }
        // About 10.6 MiB (a third of the reader's 32 MiB cap) of xattrs.
        EXPECT_EQ(err, ENOSPC) << "after " << files << " files";
        EXPECT_GT(files, 30);
        const std::string log = m.unmount();
        EXPECT_EQ(log.find("index write failed"), std::string::npos) << log;
    }
    struct stat st {};
    ASSERT_EQ(stat((t.backing() + "/D/PERSHOME.IDX").c_str(), &st), 0);
    EXPECT_LE(st.st_size, 32 << 20);
    Mount again(t.backing(), t.mnt());
    std::string got(value.size(), '\0');
    EXPECT_EQ(getxattr(again.path("D/f0").c_str(), "user.d", got.data(), got.size()),
              static_cast<ssize_t>(value.size()));
    EXPECT_EQ(got, value);
    const std::string log = again.unmount();
    EXPECT_EQ(log.find("past the cap"), std::string::npos) << log;
}

}  // namespace
}  // namespace pershome::fs::test
