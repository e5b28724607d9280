// st_ino across unmount and mount: what git's index and backup tools
// compare. A file keeps its number when its path did not change; a
// hard-linked file keeps its number through renames of any of its names.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>

#include "fs/inode_numbers.hpp"
#include "tests/fs/mount_harness.hpp"

namespace pershome::fs::test {
namespace {

ino_t ino(const std::string& p) {
    struct stat st {};
    EXPECT_EQ(lstat(p.c_str(), &st), 0) << p << ": " << std::strerror(errno);
    return st.st_ino;
}

// name -> d_ino of a directory's listing, "." and ".." included.
std::map<std::string, ino_t> d_inos(const std::string& dir) {
    std::map<std::string, ino_t> out;
    DIR* d = opendir(dir.c_str());
    EXPECT_NE(d, nullptr) << dir;
    if (!d) return out;
    while (dirent* de = readdir(d)) out[de->d_name] = de->d_ino;
    closedir(d);
    return out;
}

const std::vector<std::string> kPaths = {
    "file",          "what?", "Makefile", "makefile",           "dir", "dir/nested", "dir/sub",
    "dir/sub/deep:", "sym",   "fifo",     "made after rename/x"};

void make_tree(const Mount& m) {
    write_file(m.path("file"), "1");
    write_file(m.path("what?"), "2");
    write_file(m.path("Makefile"), "3");
    write_file(m.path("makefile"), "4");
    ASSERT_EQ(mkdir(m.path("dir").c_str(), 0755), 0);
    write_file(m.path("dir/nested"), "5");
    ASSERT_EQ(mkdir(m.path("dir/sub").c_str(), 0755), 0);
    write_file(m.path("dir/sub/deep:"), "6");
    ASSERT_EQ(symlink("file", m.path("sym").c_str()), 0);
    ASSERT_EQ(mkfifo(m.path("fifo").c_str(), 0600), 0);
    // A directory renamed before anything in it is looked up: what is
    // found in it afterwards is numbered by its new path, as the next
    // mount numbers it. (The directory itself keeps its number until the
    // unmount and is numbered by its new path after it: renamed entries
    // are the exception, pershome-fs(1).)
    ASSERT_EQ(mkdir(m.path("old name").c_str(), 0755), 0);
    ASSERT_EQ(rename(m.path("old name").c_str(), m.path("made after rename").c_str()), 0);
    write_file(m.path("made after rename/x"), "7");
}

TEST(InodeNumbers, AFileKeepsItsNumberAcrossRemount) {
    TempTree t;
    std::map<std::string, ino_t> before;
    std::map<std::string, ino_t> listed;
    {
        Mount m(t.backing(), t.mnt());
        make_tree(m);
        for (const auto& p : kPaths) before[p] = ino(m.path(p));
        for (const auto& [name, i] : d_inos(t.mnt())) listed[name] = i;
        // A hard link made now, and a name of it renamed.
        write_file(m.path("linked"), "8");
        ASSERT_EQ(link(m.path("linked").c_str(), m.path("dir/second name").c_str()), 0);
        m.unmount();
    }
    std::set<ino_t> distinct;
    for (const auto& [p, i] : before) distinct.insert(i);
    EXPECT_EQ(distinct.size(), before.size()) << "two files share a number";
    for (const auto& p : {"file", "what?", "dir", "sym", "fifo"})
        EXPECT_EQ(listed[p], before[p]) << p << ": readdir's d_ino is stat's st_ino";
    EXPECT_EQ(listed["."], 1u);

    ino_t link_ino = 0;
    {
        // Another lookup order than the first mount's.
        Mount m(t.backing(), t.mnt());
        std::vector<std::string> reversed(kPaths.rbegin(), kPaths.rend());
        for (const auto& p : reversed) EXPECT_EQ(ino(m.path(p)), before[p]) << p;
        link_ino = ino(m.path("dir/second name"));
        EXPECT_EQ(ino(m.path("linked")), link_ino);
        ASSERT_EQ(rename(m.path("linked").c_str(), m.path("dir/sub/moved").c_str()), 0);
        m.unmount();
    }
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(ino(m.path("dir/sub/moved")), link_ino);
    EXPECT_EQ(ino(m.path("dir/second name")), link_ino);
    EXPECT_EQ(ino(m.path("file")), before["file"]);
}

// Two names whose numbers collide in 32 bits (found by search here, about
// one in 80,000 pairs) still get two numbers, the same ones after a
// remount when looked up in the same order.
TEST(InodeNumbers, TwoNamesWhoseNumbersCollideGetTwoNumbers) {
    std::unordered_map<std::uint64_t, std::string> by_ino;
    std::string a, b;
    for (unsigned i = 0; a.empty() && i < 2000000; ++i) {
        std::string n = "c" + std::to_string(i);
        auto [it, fresh] = by_ino.emplace(ino_of_key(child_key(root_key(), n), 0), n);
        if (!fresh) a = it->second, b = n;
    }
    ASSERT_FALSE(a.empty()) << "no colliding pair among 2,000,000 names";
    TempTree t;
    ino_t ia = 0, ib = 0;
    {
        Mount m(t.backing(), t.mnt());
        write_file(m.path(a), "a");
        write_file(m.path(b), "b");
        ia = ino(m.path(a));
        ib = ino(m.path(b));
        EXPECT_NE(ia, ib) << a << " and " << b;
        EXPECT_EQ(ia, ino_of_key(child_key(root_key(), a), 0));
        m.unmount();
    }
    Mount m(t.backing(), t.mnt());
    EXPECT_EQ(ino(m.path(a)), ia);
    EXPECT_EQ(ino(m.path(b)), ib);
}

}  // namespace
}  // namespace pershome::fs::test
