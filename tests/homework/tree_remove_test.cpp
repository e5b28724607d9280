#include "homework/tree_remove.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "capabilities.hpp"
#include "temp_dir.hpp"

namespace pershome::homework {
namespace {

using test::exists;
using test::make_dir;
using test::read_file;
using test::TempDir;
using test::write_file;

int open_fd_count() {
    int n = 0;
    DIR* d = ::opendir("/proc/self/fd");
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
    return n;
}

// home/{a,b/{c,d/e}} with files, symlinks and a fifo.
void make_small_home(const TempDir& tmp) {
    make_dir(tmp / "home", 0755);
    write_file(tmp / "home/a", "a");
    make_dir(tmp / "home/b");
    write_file(tmp / "home/b/c", "c");
    make_dir(tmp / "home/b/d");
    make_dir(tmp / "home/b/d/e");
    write_file(tmp / "home/b/d/e/f", "f");
    ASSERT_EQ(::symlink("a", (tmp / "home/rel").c_str()), 0);
    ASSERT_EQ(::mkfifo((tmp / "home/b/fifo").c_str(), 0600), 0);
}

TEST(RemoveTree, RemovesEverything) {
    TempDir tmp;
    make_small_home(tmp);
    write_file(tmp / "sibling", "stays");
    const int fds_before = open_fd_count();
    auto r = remove_tree(tmp.fd(), "home");
    ASSERT_TRUE(r) << r.error();
    EXPECT_TRUE(r->top_removed);
    EXPECT_FALSE(exists(tmp / "home"));
    EXPECT_EQ(r->files_removed, 5u);
    EXPECT_EQ(r->dirs_removed, 4u);
    EXPECT_TRUE(r->skipped_mounts.empty());
    EXPECT_TRUE(r->failures.empty());
    EXPECT_EQ(read_file(tmp / "sibling"), "stays");
    EXPECT_EQ(open_fd_count(), fds_before);
}

TEST(RemoveTree, SymlinksToOutsideAreUnlinkedNotFollowed) {
    TempDir tmp;
    make_dir(tmp / "outside");
    write_file(tmp / "outside/precious", "keep me");
    make_dir(tmp / "outside/dir");
    write_file(tmp / "outside/dir/inner", "inner");
    make_small_home(tmp);
    ASSERT_EQ(::symlink((tmp / "outside").c_str(), (tmp / "home/abs_dir").c_str()), 0);
    ASSERT_EQ(::symlink("../../outside/dir", (tmp / "home/b/rel_dir").c_str()), 0);
    ASSERT_EQ(::symlink((tmp / "outside/precious").c_str(), (tmp / "home/b/d/file").c_str()), 0);
    ASSERT_EQ(::link((tmp / "outside/precious").c_str(), (tmp / "home/hardlink").c_str()), 0);
    ASSERT_EQ(::symlink("/", (tmp / "home/root").c_str()), 0);

    auto r = remove_tree(tmp.fd(), "home");
    ASSERT_TRUE(r) << r.error();
    EXPECT_TRUE(r->top_removed);
    EXPECT_FALSE(exists(tmp / "home"));
    EXPECT_EQ(read_file(tmp / "outside/precious"), "keep me");
    EXPECT_EQ(read_file(tmp / "outside/dir/inner"), "inner");
    EXPECT_TRUE(exists(tmp / "outside/dir"));
}

TEST(RemoveTree, ModeZeroDirectories) {
    TempDir tmp;
    make_dir(tmp / "home", 0700);
    make_dir(tmp / "home/locked", 0755);
    write_file(tmp / "home/locked/f", "x", 0000);
    make_dir(tmp / "home/locked/inner", 0755);
    write_file(tmp / "home/locked/inner/g", "y", 0000);
    ASSERT_EQ(::chmod((tmp / "home/locked/inner").c_str(), 0000), 0);
    ASSERT_EQ(::chmod((tmp / "home/locked").c_str(), 0000), 0);
    make_dir(tmp / "home/readonly", 0755);
    write_file(tmp / "home/readonly/h", "z");
    ASSERT_EQ(::chmod((tmp / "home/readonly").c_str(), 0500), 0);
    auto r = remove_tree(tmp.fd(), "home");
    ASSERT_TRUE(r) << r.error();
    EXPECT_TRUE(r->top_removed);
    EXPECT_FALSE(exists(tmp / "home"));
}

TEST(RemoveTree, ModeZeroDirectoriesWithoutDacOverride) {
    // Root normally reads anything; a daemon confined without CAP_DAC_OVERRIDE must chmod.
    TempDir tmp;
    make_dir(tmp / "home", 0700);
    make_dir(tmp / "home/locked", 0755);
    write_file(tmp / "home/locked/f", "x", 0000);
    make_dir(tmp / "home/locked/inner", 0755);
    write_file(tmp / "home/locked/inner/g", "y");
    ASSERT_EQ(::chmod((tmp / "home/locked/inner").c_str(), 0000), 0);
    ASSERT_EQ(::chmod((tmp / "home/locked").c_str(), 0000), 0);
    make_dir(tmp / "home/readonly", 0755);
    write_file(tmp / "home/readonly/h", "z");
    ASSERT_EQ(::chmod((tmp / "home/readonly").c_str(), 0500), 0);
    make_dir(tmp / "home2", 0000);
    write_file(tmp / "home2/should-not-matter", "", 0600);
    ASSERT_EQ(::chmod((tmp / "home2").c_str(), 0000), 0);
    test::in_child([&](std::string& failures) {
        CHILD_CHECK(failures, test::drop_dac_override());
        // Proof the restriction bites: root cannot list a mode-000 directory now.
        CHILD_CHECK(failures, ::open((tmp / "home/locked").c_str(), O_RDONLY) < 0);
        auto r = remove_tree(tmp.fd(), "home");
        CHILD_CHECK(failures, r.has_value());
        if (r) CHILD_CHECK(failures, r->top_removed);
        if (r) CHILD_CHECK(failures, r->failures.empty());
        CHILD_CHECK(failures, !exists(tmp / "home"));
        auto r2 = remove_tree(tmp.fd(), "home2");  // the top itself mode 000
        CHILD_CHECK(failures, r2.has_value() && r2->top_removed);
        CHILD_CHECK(failures, !exists(tmp / "home2"));
    });
}

TEST(RemoveTree, RefusesSymlinkTop) {
    TempDir tmp;
    make_dir(tmp / "target");
    write_file(tmp / "target/f", "keep");
    ASSERT_EQ(::symlink("target", (tmp / "home").c_str()), 0);
    auto r = remove_tree(tmp.fd(), "home");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("symbolic link"), std::string::npos) << r.error();
    EXPECT_EQ(read_file(tmp / "target/f"), "keep");
    EXPECT_TRUE(exists(tmp / "home"));
}

TEST(RemoveTree, RefusesNonDirectoryTopAndMissingTopAndBadNames) {
    TempDir tmp;
    write_file(tmp / "file", "keep");
    auto r = remove_tree(tmp.fd(), "file");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("not a directory"), std::string::npos) << r.error();
    EXPECT_EQ(read_file(tmp / "file"), "keep");
    EXPECT_FALSE(remove_tree(tmp.fd(), "missing"));
    make_dir(tmp / "a");
    make_dir(tmp / "a/b");
    EXPECT_FALSE(remove_tree(tmp.fd(), "a/b"));
    EXPECT_FALSE(remove_tree(tmp.fd(), ".."));
    EXPECT_FALSE(remove_tree(tmp.fd(), "."));
    EXPECT_FALSE(remove_tree(tmp.fd(), ""));
    EXPECT_TRUE(exists(tmp / "a/b"));
}

TEST(RemoveTree, OwnerCheck) {
    TempDir tmp;
    make_small_home(tmp);
    ASSERT_EQ(::chown((tmp / "home").c_str(), 4242, 4242), 0);
    auto wrong = remove_tree(tmp.fd(), "home", {.expected_uid = 4243, .max_open_dirs = 64});
    ASSERT_FALSE(wrong);
    EXPECT_NE(wrong.error().find("owned by uid 4242, not 4243"), std::string::npos)
        << wrong.error();
    EXPECT_EQ(read_file(tmp / "home/b/d/e/f"), "f");
    // A locked home of someone else is not even chmodded.
    make_dir(tmp / "locked", 0755);
    ASSERT_EQ(::chown((tmp / "locked").c_str(), 4242, 4242), 0);
    ASSERT_EQ(::chmod((tmp / "locked").c_str(), 0000), 0);
    EXPECT_FALSE(remove_tree(tmp.fd(), "locked", {.expected_uid = 4243, .max_open_dirs = 64}));
    EXPECT_EQ(test::mode_of(tmp / "locked"), S_IFDIR | 0000);
    auto right = remove_tree(tmp.fd(), "home", {.expected_uid = 4242, .max_open_dirs = 64});
    ASSERT_TRUE(right) << right.error();
    EXPECT_FALSE(exists(tmp / "home"));
}

// Builds `depth` nested directories "d" below tmp/name, each holding a file, without paths
// (the full path is far beyond PATH_MAX).
void make_deep(const TempDir& tmp, const char* name, int depth) {
    ASSERT_EQ(::mkdirat(tmp.fd(), name, 0755), 0);
    UniqueFd dir(::openat(tmp.fd(), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    for (int i = 0; i < depth; ++i) {
        UniqueFd f(::openat(dir.get(), "file", O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        ASSERT_TRUE(f);
        ASSERT_EQ(::mkdirat(dir.get(), "d", 0755), 0);
        dir.reset(::openat(dir.get(), "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        ASSERT_TRUE(dir);
    }
}

TEST(RemoveTree, TenThousandLevelsDeep) {
    TempDir tmp("pershome-homework", TempDir::memory_base());
    make_deep(tmp, "home", 10000);
    const int fds_before = open_fd_count();
    auto r = remove_tree(tmp.fd(), "home");
    ASSERT_TRUE(r) << r.error();
    EXPECT_TRUE(r->top_removed);
    EXPECT_EQ(r->dirs_removed, 10001u);
    EXPECT_EQ(r->files_removed, 10000u);
    EXPECT_FALSE(exists(tmp / "home"));
    EXPECT_EQ(open_fd_count(), fds_before);
}

TEST(RemoveTree, DeepTreeWithFewFdsReopensParents) {
    TempDir tmp("pershome-homework", TempDir::memory_base());
    make_deep(tmp, "home", 3000);
    auto r = remove_tree(tmp.fd(), "home", {.expected_uid = std::nullopt, .max_open_dirs = 4});
    ASSERT_TRUE(r) << r.error();
    EXPECT_TRUE(r->top_removed);
    EXPECT_EQ(r->dirs_removed, 3001u);
    EXPECT_FALSE(exists(tmp / "home"));
}

TEST(RemoveTree, HundredThousandFilesWide) {
    TempDir tmp("pershome-homework", TempDir::memory_base());
    make_dir(tmp / "home");
    UniqueFd home(::open((tmp / "home").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    for (int i = 0; i < 100000; ++i) {
        const std::string name = "f" + std::to_string(i);
        UniqueFd f(::openat(home.get(), name.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        ASSERT_TRUE(f);
    }
    for (int i = 0; i < 2000; ++i) {  // and wide in directories too
        ASSERT_EQ(::mkdirat(home.get(), ("d" + std::to_string(i)).c_str(), 0755), 0);
    }
    home.reset();
    auto r = remove_tree(tmp.fd(), "home");
    ASSERT_TRUE(r) << r.error();
    EXPECT_TRUE(r->top_removed);
    EXPECT_EQ(r->files_removed, 100000u);
    EXPECT_EQ(r->dirs_removed, 2001u);
    EXPECT_FALSE(exists(tmp / "home"));
}

TEST(RemoveTree, ParallelCallsFromThreads) {
    TempDir tmp;
    constexpr int kTrees = 4;
    for (int t = 0; t < kTrees; ++t) {
        const std::string top = "home" + std::to_string(t);
        make_dir(tmp / top);
        for (int d = 0; d < 20; ++d) {
            const std::string dir = top + "/d" + std::to_string(d);
            make_dir(tmp / dir);
            for (int f = 0; f < 50; ++f) write_file(tmp / (dir + "/f" + std::to_string(f)), "x");
        }
    }
    std::vector<tl::expected<RemoveStats, std::string>> results(kTrees);
    std::vector<std::thread> threads;
    for (int t = 0; t < kTrees; ++t) {
        threads.emplace_back(
            [&, t] { results[t] = remove_tree(tmp.fd(), "home" + std::to_string(t)); });
    }
    for (auto& th : threads) th.join();
    for (int t = 0; t < kTrees; ++t) {
        ASSERT_TRUE(results[t]) << results[t].error();
        EXPECT_EQ(results[t]->files_removed, 1000u);
        EXPECT_FALSE(exists(tmp / ("home" + std::to_string(t))));
    }
}

}  // namespace
}  // namespace pershome::homework
