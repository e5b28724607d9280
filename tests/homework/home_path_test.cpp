#include "homework/home_path.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "temp_dir.hpp"

namespace pershome::homework {
namespace {

using test::make_dir;
using test::TempDir;

TEST(NormalizeLexically, CollapsesSlashesDotsAndDotDots) {
    EXPECT_EQ(normalize_lexically("/a//b/./c/"), "/a/b/c");
    EXPECT_EQ(normalize_lexically("/tmphome/"), "/tmphome");
    EXPECT_EQ(normalize_lexically("/tmphome/../etc"), "/etc");
    EXPECT_EQ(normalize_lexically("/a/b/../../.."), "/");
    EXPECT_EQ(normalize_lexically("/../a"), "/a");
    EXPECT_EQ(normalize_lexically("/"), "/");
    EXPECT_EQ(normalize_lexically("//"), "/");
    EXPECT_EQ(normalize_lexically("/./."), "/");
    EXPECT_EQ(normalize_lexically("/a/.../b"), "/a/.../b");  // "..." is an ordinary name
    EXPECT_EQ(normalize_lexically("/a/..b/c"), "/a/..b/c");
}

TEST(NormalizeLexically, RelativeStaysRelative) {
    EXPECT_EQ(normalize_lexically("a/../../b"), "../b");
    EXPECT_EQ(normalize_lexically("a/.."), ".");
    EXPECT_EQ(normalize_lexically(""), ".");
}

TEST(RelativeBelow, StrictlyBelowAtComponentBoundary) {
    EXPECT_EQ(relative_below("/tmphome", "/tmphome/alice"), "alice");
    EXPECT_EQ(relative_below("/tmphome/", "/tmphome//alice/"), "alice");
    EXPECT_EQ(relative_below("/tmphome", "/tmphome/a/b"), "a/b");
    EXPECT_EQ(relative_below("/tmphome", "/tmphome/./a/../b"), "b");
    EXPECT_EQ(relative_below("/srv/../tmphome", "/tmphome/x"), "x");
    EXPECT_EQ(relative_below("/", "/x"), "x");
}

TEST(RelativeBelow, RefusesEverythingElse) {
    EXPECT_EQ(relative_below("/tmphome", "/tmphome2/x"), std::nullopt);
    EXPECT_EQ(relative_below("/tmphome", "/tmphome2"), std::nullopt);
    EXPECT_EQ(relative_below("/tmphome", "/tmphom"), std::nullopt);
    EXPECT_EQ(relative_below("/tmphome", "/tmphome/../etc"), std::nullopt);
    EXPECT_EQ(relative_below("/tmphome", "/tmphome/x/../../etc/passwd"), std::nullopt);
    EXPECT_EQ(relative_below("/tmphome", "/tmphome"), std::nullopt);
    EXPECT_EQ(relative_below("/tmphome", "/tmphome/"), std::nullopt);
    EXPECT_EQ(relative_below("/tmphome", "/tmphome/."), std::nullopt);
    EXPECT_EQ(relative_below("/tmphome", "/tmphome/x/.."), std::nullopt);
    EXPECT_EQ(relative_below("/tmp", "/tmphome/x"), std::nullopt);
    EXPECT_EQ(relative_below("/tmphome/x", "/tmphome"), std::nullopt);
    EXPECT_EQ(relative_below("/", "/"), std::nullopt);
    EXPECT_EQ(relative_below("tmphome", "tmphome/x"), std::nullopt);
    EXPECT_EQ(relative_below("/tmphome", "tmphome/x"), std::nullopt);
    EXPECT_EQ(relative_below("tmphome", "/tmphome/x"), std::nullopt);
    EXPECT_EQ(relative_below("", "/x"), std::nullopt);
    EXPECT_EQ(relative_below("/tmphome", ""), std::nullopt);
}

void expect_refused(const std::string& raw, const std::string& fragment) {
    auto r = open_tmphome_root(raw);
    ASSERT_FALSE(r) << raw << " was accepted";
    EXPECT_NE(r.error().find(fragment), std::string::npos)
        << "error for " << raw << " was: " << r.error();
}

TEST(OpenTmphomeRoot, RefusesRelativeRootAndHome) {
    expect_refused("tmphome", "not an absolute path");
    expect_refused("./tmphome", "not an absolute path");
    expect_refused("", "not an absolute path");
    expect_refused("/", "contains /home");
    expect_refused("//", "contains /home");
    expect_refused("/tmp/../", "contains /home");
    expect_refused("/home", "/home");
    expect_refused("/home/", "/home");
    expect_refused("/home/x", "inside /home");
    expect_refused("/srv/../home/x", "inside /home");
    expect_refused("/home/../home/x/y", "inside /home");
}

TEST(OpenTmphomeRoot, AcceptsRootOwnedPrivateDirectory) {
    TempDir tmp;
    make_dir(tmp / "root", 0755);
    auto r = open_tmphome_root(tmp.path().string() + "//root/./");
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->path, tmp / "root");
    struct stat via_fd {
    }, via_path{};
    ASSERT_EQ(::fstat(r->fd.get(), &via_fd), 0);
    ASSERT_EQ(::stat((tmp / "root").c_str(), &via_path), 0);
    EXPECT_EQ(via_fd.st_ino, via_path.st_ino);
    EXPECT_EQ(via_fd.st_dev, via_path.st_dev);
    // The fd is a real directory fd usable for *at() calls.
    EXPECT_EQ(::mkdirat(r->fd.get(), "alice", 0700), 0);
    EXPECT_TRUE(test::exists(tmp / "root/alice"));
}

TEST(OpenTmphomeRoot, AcceptsStickyWorldWritableAncestor) {
    TempDir tmp;
    make_dir(tmp / "sticky", 01777);
    make_dir(tmp / "sticky/root", 0755);
    auto r = open_tmphome_root((tmp / "sticky/root").string());
    EXPECT_TRUE(r) << r.error();
}

TEST(OpenTmphomeRoot, RefusesSymlinkComponent) {
    TempDir tmp;
    make_dir(tmp / "real", 0755);
    make_dir(tmp / "real/root", 0755);
    ASSERT_EQ(::symlink((tmp / "real").c_str(), (tmp / "link").c_str()), 0);
    ASSERT_EQ(::symlink((tmp / "real/root").c_str(), (tmp / "lastlink").c_str()), 0);
    expect_refused(tmp / "link/root", "is a symbolic link");
    expect_refused(tmp / "lastlink", "is a symbolic link");
}

TEST(OpenTmphomeRoot, RefusesNotRootOwned) {
    TempDir tmp;
    make_dir(tmp / "root", 0755);
    ASSERT_EQ(::chown((tmp / "root").c_str(), 65534, 65534), 0);
    expect_refused(tmp / "root", "is not owned by root (owner uid 65534)");
}

TEST(OpenTmphomeRoot, RefusesGroupOrOtherWritable) {
    TempDir tmp;
    make_dir(tmp / "open", 0777);
    make_dir(tmp / "group", 0775);
    expect_refused(tmp / "open", "is writable by group or others (mode 0777)");
    expect_refused(tmp / "group", "is writable by group or others (mode 0775)");
}

TEST(OpenTmphomeRoot, RefusesUnsafeAncestor) {
    TempDir tmp;
    make_dir(tmp / "open", 0777);  // anyone could rename "root" away and put theirs in
    make_dir(tmp / "open/root", 0755);
    expect_refused(tmp / "open/root", "ancestor");
    make_dir(tmp / "user", 0755);
    ASSERT_EQ(::chown((tmp / "user").c_str(), 65534, 65534), 0);
    make_dir(tmp / "user/root", 0755);
    expect_refused(tmp / "user/root", "ancestor");
}

TEST(OpenTmphomeRoot, RefusesNotADirectoryAndMissing) {
    TempDir tmp;
    test::write_file(tmp / "file", "x");
    expect_refused(tmp / "file", "is not a directory");
    expect_refused(tmp / "file/sub", "is not a directory");
    expect_refused(tmp / "missing", "does not exist");
    expect_refused(tmp / "missing/sub", "does not exist");
}

TEST(OpenDirBelow, WalksWithoutFollowingSymlinks) {
    TempDir tmp;
    make_dir(tmp / "a");
    make_dir(tmp / "a/b");
    ASSERT_EQ(::symlink("a", (tmp / "l").c_str()), 0);
    auto ok = open_dir_below(tmp.fd(), "a/b");
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_EQ(::mkdirat(ok->get(), "c", 0700), 0);
    EXPECT_TRUE(test::exists(tmp / "a/b/c"));
    auto self = open_dir_below(tmp.fd(), "");
    EXPECT_TRUE(self);
    auto link = open_dir_below(tmp.fd(), "l/b");
    ASSERT_FALSE(link);
    EXPECT_EQ(link.error().kind, WalkFailure::kUnsafe);
    EXPECT_NE(link.error().message.find("symbolic link"), std::string::npos)
        << link.error().message;
    EXPECT_FALSE(open_dir_below(tmp.fd(), "a/../a"));
    EXPECT_FALSE(open_dir_below(tmp.fd(), "/etc"));
    auto missing = open_dir_below(tmp.fd(), "missing");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().kind, WalkFailure::kMissing);
}

TEST(OpenDirBelow, CreatesMissingDirectoriesAsRoots) {
    TempDir tmp;
    auto made =
        open_dir_below(tmp.fd(), "x/y", {.create = true, .root_owned = true, .shown_base = {}});
    ASSERT_TRUE(made) << made.error().message;
    EXPECT_EQ(test::mode_of(tmp / "x/y"), S_IFDIR | 0755);
    auto again =
        open_dir_below(tmp.fd(), "x/y", {.create = true, .root_owned = true, .shown_base = {}});
    EXPECT_TRUE(again);
}

TEST(OpenDirBelow, RootOwnedRefusesWhatOthersCanWrite) {
    TempDir tmp;
    make_dir(tmp / "open", 0777);
    make_dir(tmp / "theirs", 0755);
    ASSERT_EQ(::chown((tmp / "theirs").c_str(), 4242, 4242), 0);
    for (const char* rel : {"open", "theirs"}) {
        auto r = open_dir_below(tmp.fd(), rel, {.root_owned = true, .shown_base = "/base"});
        ASSERT_FALSE(r) << rel;
        EXPECT_EQ(r.error().kind, WalkFailure::kUnsafe) << rel;
        EXPECT_NE(r.error().message.find(std::string("/base/") + rel), std::string::npos)
            << r.error().message;
    }
    EXPECT_TRUE(open_dir_below(tmp.fd(), "theirs"));  // only checked when asked
}

}  // namespace
}  // namespace pershome::homework
