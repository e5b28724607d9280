#include "homework/skel_copy.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "temp_dir.hpp"

namespace pershome::homework {
namespace {

using test::exists;
using test::make_dir;
using test::mode_of;
using test::read_file;
using test::TempDir;
using test::write_file;

constexpr uid_t kUid = 12345;
constexpr gid_t kGid = 23456;

class SkelCopy : public ::testing::Test {
  protected:
    void SetUp() override {
        make_dir(tmp_ / "skel", 0755);
        make_dir(tmp_ / "home", 0700);
    }
    tl::expected<CopyStats, std::string> copy() {
        UniqueFd skel(::open((tmp_ / "skel").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        UniqueFd home(::open((tmp_ / "home").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        return copy_skel(skel.get(), home.get(), kUid, kGid);
    }
    std::string skel(const std::string& rel) { return tmp_ / ("skel/" + rel); }
    std::string home(const std::string& rel) { return tmp_ / ("home/" + rel); }

    TempDir tmp_;
};

TEST_F(SkelCopy, EmptySkelGivesEmptyHome) {
    auto r = copy();
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->files + r->dirs + r->symlinks + r->skipped, 0u);
    UniqueFd home(::open((tmp_ / "home").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    char buf[4096];
    const ssize_t n = ::getdents64(home.get(), buf, sizeof buf);
    int entries = 0;
    for (ssize_t pos = 0; pos < n;) {
        auto* d = reinterpret_cast<struct dirent64*>(buf + pos);
        pos += d->d_reclen;
        ++entries;
    }
    EXPECT_EQ(entries, 2);  // . and ..
}

TEST_F(SkelCopy, FilesDirsModesContentAndOwnership) {
    write_file(skel(".bashrc"), "# bashrc\n", 0644);
    write_file(skel(".private"), "secret\n", 0600);
    write_file(skel("run.sh"), "#!/bin/sh\n", 0755);
    write_file(skel("empty"), "", 0640);
    make_dir(skel(".config"), 0750);
    make_dir(skel(".config/deep"), 0700);
    make_dir(skel(".config/deep/er"), 0755);
    write_file(skel(".config/deep/er/file"), "nested\n", 0444);
    make_dir(skel("emptydir"), 0711);
    std::string big(3 * 1024 * 1024 + 17, '\0');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 + i / 4096);
    write_file(skel("big.bin"), big, 0644);

    auto r = copy();
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->files, 6u);
    EXPECT_EQ(r->dirs, 4u);
    EXPECT_EQ(r->bytes, 9u + 7u + 10u + 7u + big.size());

    EXPECT_EQ(read_file(home(".bashrc")), "# bashrc\n");
    EXPECT_EQ(read_file(home(".config/deep/er/file")), "nested\n");
    EXPECT_EQ(read_file(home("big.bin")), big);
    EXPECT_EQ(read_file(home("empty")), "");
    EXPECT_EQ(mode_of(home(".bashrc")), S_IFREG | 0644);
    EXPECT_EQ(mode_of(home(".private")), S_IFREG | 0600);
    EXPECT_EQ(mode_of(home("run.sh")), S_IFREG | 0755);
    EXPECT_EQ(mode_of(home("empty")), S_IFREG | 0640);
    EXPECT_EQ(mode_of(home(".config/deep/er/file")), S_IFREG | 0444);
    EXPECT_EQ(mode_of(home(".config")), S_IFDIR | 0750);
    EXPECT_EQ(mode_of(home(".config/deep")), S_IFDIR | 0700);
    EXPECT_EQ(mode_of(home("emptydir")), S_IFDIR | 0711);
    for (const char* rel : {".bashrc", ".private", "run.sh", "empty", ".config", ".config/deep",
                            ".config/deep/er", ".config/deep/er/file", "emptydir", "big.bin"}) {
        struct stat st {};
        ASSERT_EQ(::lstat(home(rel).c_str(), &st), 0) << rel;
        EXPECT_EQ(st.st_uid, kUid) << rel;
        EXPECT_EQ(st.st_gid, kGid) << rel;
    }
    // The destination directory itself is the caller's: left as it was.
    struct stat top {};
    ASSERT_EQ(::stat((tmp_ / "home").c_str(), &top), 0);
    EXPECT_EQ(top.st_uid, 0u);
    EXPECT_EQ(top.st_mode & 07777, 0700u);
}

TEST_F(SkelCopy, TimesAreCopied) {
    write_file(skel("old"), "x", 0644);
    make_dir(skel("olddir"), 0755);
    write_file(skel("olddir/f"), "y", 0644);
    const struct timespec times[2] = {{1000000000, 5}, {1200000000, 7}};
    ASSERT_EQ(::utimensat(AT_FDCWD, skel("old").c_str(), times, 0), 0);
    ASSERT_EQ(::utimensat(AT_FDCWD, skel("olddir").c_str(), times, 0), 0);
    auto r = copy();
    ASSERT_TRUE(r) << r.error();
    struct stat st {};
    ASSERT_EQ(::stat(home("old").c_str(), &st), 0);
    EXPECT_EQ(st.st_mtim.tv_sec, 1200000000);
    EXPECT_EQ(st.st_mtim.tv_nsec, 7);
    ASSERT_EQ(::stat(home("olddir").c_str(), &st), 0);
    EXPECT_EQ(st.st_mtim.tv_sec, 1200000000);
}

TEST_F(SkelCopy, SetuidAndSetgidDropped) {
    write_file(skel("suid"), "x", 04755);
    write_file(skel("sgid"), "x", 02755);
    make_dir(skel("sgiddir"), 02775);
    make_dir(skel("sticky"), 01777);
    auto r = copy();
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(mode_of(home("suid")), S_IFREG | 0755);
    EXPECT_EQ(mode_of(home("sgid")), S_IFREG | 0755);
    EXPECT_EQ(mode_of(home("sgiddir")), S_IFDIR | 0775);
    EXPECT_EQ(mode_of(home("sticky")), S_IFDIR | 01777);
}

TEST_F(SkelCopy, SymlinksRecreatedNeverFollowed) {
    make_dir(tmp_ / "outside", 0755);
    write_file(tmp_ / "outside/secret", "root only\n", 0600);
    make_dir(tmp_ / "outside/dir", 0700);
    write_file(tmp_ / "outside/dir/inner", "inner\n", 0600);
    write_file(skel("a.txt"), "a\n", 0644);
    ASSERT_EQ(::symlink("a.txt", skel("rel").c_str()), 0);
    ASSERT_EQ(::symlink((tmp_ / "outside/secret").c_str(), skel("abs_file").c_str()), 0);
    ASSERT_EQ(::symlink("../outside/dir", skel("dir_link").c_str()), 0);
    ASSERT_EQ(::symlink("/nonexistent/dangling", skel("dangling").c_str()), 0);

    auto r = copy();
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->symlinks, 4u);
    EXPECT_EQ(r->files, 1u);
    EXPECT_EQ(r->dirs, 0u);  // dir_link was not descended into

    auto target_of = [](const std::string& p) {
        char buf[4096];
        const ssize_t n = ::readlink(p.c_str(), buf, sizeof buf);
        return n < 0 ? std::string("<not a link>") : std::string(buf, static_cast<size_t>(n));
    };
    EXPECT_EQ(target_of(home("rel")), "a.txt");
    EXPECT_EQ(target_of(home("abs_file")), tmp_ / "outside/secret");
    EXPECT_EQ(target_of(home("dir_link")), "../outside/dir");
    EXPECT_EQ(target_of(home("dangling")), "/nonexistent/dangling");
    for (const char* rel : {"rel", "abs_file", "dir_link", "dangling"}) {
        struct stat st {};
        ASSERT_EQ(::lstat(home(rel).c_str(), &st), 0) << rel;
        EXPECT_TRUE(S_ISLNK(st.st_mode)) << rel;
        EXPECT_EQ(st.st_uid, kUid) << rel;
    }
    // The targets outside were neither copied nor chowned nor chmodded.
    struct stat st {};
    ASSERT_EQ(::stat((tmp_ / "outside/secret").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    ASSERT_EQ(::stat((tmp_ / "outside/dir").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(read_file(tmp_ / "outside/secret"), "root only\n");
    EXPECT_FALSE(exists(tmp_ / "outside/dir/a.txt"));
}

TEST_F(SkelCopy, FifosDevicesAndSocketsSkipped) {
    write_file(skel("keep"), "k", 0644);
    ASSERT_EQ(::mkfifo(skel("fifo").c_str(), 0644), 0);
    ASSERT_EQ(::mknod(skel("null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
    ASSERT_EQ(::mknod(skel("blk").c_str(), S_IFBLK | 0600, makedev(7, 200)), 0);
    make_dir(skel("sub"), 0755);
    ASSERT_EQ(::mkfifo(skel("sub/fifo2").c_str(), 0600), 0);

    auto r = copy();
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->skipped, 4u);
    EXPECT_EQ(r->notes.size(), 4u);
    EXPECT_TRUE(exists(home("keep")));
    EXPECT_FALSE(exists(home("fifo")));
    EXPECT_FALSE(exists(home("null")));
    EXPECT_FALSE(exists(home("blk")));
    EXPECT_FALSE(exists(home("sub/fifo2")));
    EXPECT_TRUE(exists(home("sub")));
    bool noted = false;
    for (const auto& n : r->notes) noted |= n == "sub/fifo2: fifo skipped";
    EXPECT_TRUE(noted);
}

TEST_F(SkelCopy, ExistingEntryInDestinationIsAnError) {
    write_file(skel("f"), "new", 0644);
    write_file(home("f"), "old", 0644);
    auto r = copy();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("f"), std::string::npos);
    EXPECT_EQ(read_file(home("f")), "old");
}

TEST_F(SkelCopy, SymlinkPlantedInDestinationIsNotFollowed) {
    // A user racing the copy could plant a link where a skel file will go; O_EXCL refuses it.
    write_file(tmp_ / "victim", "intact", 0600);
    write_file(skel("f"), "new", 0644);
    ASSERT_EQ(::symlink((tmp_ / "victim").c_str(), home("f").c_str()), 0);
    EXPECT_FALSE(copy());
    EXPECT_EQ(read_file(tmp_ / "victim"), "intact");
    struct stat st {};
    ASSERT_EQ(::stat((tmp_ / "victim").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
}

TEST_F(SkelCopy, AcceptsOPathDescriptors) {
    write_file(skel("f"), "data", 0644);
    UniqueFd skelfd(::open((tmp_ / "skel").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    UniqueFd homefd(::open((tmp_ / "home").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    auto r = copy_skel(skelfd.get(), homefd.get(), kUid, kGid);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(read_file(home("f")), "data");
}

TEST_F(SkelCopy, RefusesAbsurdlyDeepSkel) {
    UniqueFd dir(::open((tmp_ / "skel").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    for (unsigned i = 0; i < kMaxSkelDepth + 5; ++i) {
        ASSERT_EQ(::mkdirat(dir.get(), "d", 0755), 0);
        dir.reset(::openat(dir.get(), "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        ASSERT_TRUE(dir);
    }
    auto r = copy();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("deeper than"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace pershome::homework

namespace pershome::homework {
namespace {

TEST(SkelCopyAcrossFilesystems, DataSurvivesTheFallbackPath) {
    // tmpfs to the disk: copy_file_range says EXDEV there, so sendfile does the work.
    test::TempDir mem("pershome-homework", test::TempDir::memory_base());
    test::TempDir disk;
    std::string data(200 * 1024 + 3, '\0');
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i % 251);
    test::write_file(mem / "f", data, 0640);
    auto r = copy_skel(mem.fd(), disk.fd(), 1, 1);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(test::read_file(disk / "f"), data);
    EXPECT_EQ(test::mode_of(disk / "f"), S_IFREG | 0640);
}

}  // namespace
}  // namespace pershome::homework
