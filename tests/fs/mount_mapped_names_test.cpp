// Names FAT cannot hold ("Report: draft 1?.txt") get a generated backing
// name and an index entry. Their creates are lazy like any other: the index
// follows at the next write-back, an fsync of the file or its directory,
// so a crash may bring a create younger than flush= back under its
// generated name, never lose it; one fsynced keeps its name.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "fs/index_format.hpp"
#include "fs/name_codec.hpp"
#include "tests/fs/mount_harness.hpp"

namespace pershome::fs::test {
namespace {

std::string mapped(const std::string& tag, int i) {
    return "Report: " + tag + " " + std::to_string(i) + "?.txt";
}

void create(const std::string& path, const std::string& content, bool fsync_it = false) {
    const int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    ASSERT_GE(fd, 0) << path;
    ASSERT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    if (fsync_it) {
        EXPECT_EQ(fsync(fd), 0);
    }
    close(fd);
}

void fsync_dir(const std::string& path) {
    const int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY);
    ASSERT_GE(fd, 0) << path;
    EXPECT_EQ(fsync(fd), 0);
    close(fd);
}

bool exists(const std::string& path) {
    struct stat st {};
    return lstat(path.c_str(), &st) == 0;
}

mode_t mode_of(const std::string& path) {
    struct stat st {};
    return lstat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

// The POSIX names the index file in backing directory `dir` holds now.
std::set<std::string> indexed_names(const std::string& dir) {
    std::set<std::string> out;
    const auto read = read_index(read_file(dir + "/PERSHOME.IDX"));
    if (read)
        for (const auto& e : read->content.entries) out.insert(e.name);
    return out;
}

TEST(MappedNames, CreatesWriteTheIndexAtWriteBackNotPerCreate) {
    TempTree t;
    {
        Mount m(t.backing(), t.mnt(), "flush=3600");
        ASSERT_EQ(mkdir(m.path("d").c_str(), 0755), 0);
        for (int i = 0; i < 1000; ++i) create(m.path("d/" + mapped("draft", i)), "x");
        // Its own index and the root's, both at unmount.
        EXPECT_EQ(index_writes(m.unmount()), 2);
    }
    Mount m(t.backing(), t.mnt());
    for (int i = 0; i < 1000; ++i)
        EXPECT_EQ(mode_of(m.path("d/" + mapped("draft", i))), 0644u) << i;
}

TEST(MappedNames, FsyncedCreatesKeepTheirNamesAcrossACrash) {
    TempTree t;
    constexpr int kEach = 20;
    {
        Mount m(t.backing(), t.mnt(), "flush=3600");
        ASSERT_EQ(mkdir(m.path("d").c_str(), 0755), 0);
        for (int i = 0; i < kEach; ++i) create(m.path("d/" + mapped("synced", i)), "s");
        ASSERT_EQ(mkdir(m.path("d/sub: dir?").c_str(), 0755), 0);
        fsync_dir(m.path("d"));
        // A file's own fsync carries its name too (in a directory of its own,
        // so that it carries nothing of the above).
        ASSERT_EQ(mkdir(m.path("e").c_str(), 0755), 0);
        create(m.path("e/" + mapped("fsynced file", 0)), "f", true);
        for (int i = 0; i < kEach; ++i) create(m.path("d/" + mapped("young", i)), "y");
        m.crash();
    }
    Mount m(t.backing(), t.mnt());
    for (int i = 0; i < kEach; ++i)
        EXPECT_EQ(read_file(m.path("d/" + mapped("synced", i))), "s") << i;
    EXPECT_EQ(mode_of(m.path("d/sub: dir?")), 0755u);
    EXPECT_EQ(read_file(m.path("e/" + mapped("fsynced file", 0))), "f");
    // Never fsynced: under its name or its generated one (attempt 0: no
    // name collides here), never lost, never both.
    for (int i = 0; i < kEach; ++i) {
        const std::string name = mapped("young", i);
        const std::string own = m.path("d/" + name);
        const std::string gen = m.path("d/" + generated_name(name, 0));
        EXPECT_NE(exists(own), exists(gen)) << name;
        EXPECT_EQ(read_file(exists(own) ? own : gen), "y") << name;
    }
}

TEST(MappedNames, CreatesOlderThanFlushKeepTheirNamesAcrossACrash) {
    TempTree t;
    std::set<std::string> names;
    {
        Mount m(t.backing(), t.mnt(), "flush=1");
        ASSERT_EQ(mkdir(m.path("d").c_str(), 0755), 0);
        for (int i = 0; i < 50; ++i) {
            names.insert(mapped("draft", i));
            create(m.path("d/" + mapped("draft", i)), "x");
        }
        // The write-back within flush= (and the time its write takes).
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (indexed_names(t.backing() + "/d") != names &&
               std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        EXPECT_EQ(indexed_names(t.backing() + "/d"), names);
        m.crash();
    }
    Mount m(t.backing(), t.mnt());
    for (const auto& n : names) EXPECT_EQ(read_file(m.path("d/" + n)), "x") << n;
}

}  // namespace
}  // namespace pershome::fs::test
