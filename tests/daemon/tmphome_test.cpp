// create_tmphome as the daemon's worker runs it, with homework's step hook standing in for a
// process of the user that is still running from an earlier session (issue 14, finding 2).
#include "daemon/tmphome.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/bus_names.hpp"
#include "homework/step_hook.hpp"
#include "tests/support/temp_dir.hpp"

namespace pershome {
namespace {

constexpr uid_t kUid = 12345;
constexpr gid_t kGid = 23456;

// What the hooks look at and record; a plain function pointer cannot capture.
struct Watch {
    std::string home;
    std::string victim;
    std::vector<std::string> seen;  // the home's owner and mode at every step
    int swaps = 0;
};
Watch g_watch;

void record_home(homework::Step, int, const char* name) {
    struct stat st {};
    if (::lstat(g_watch.home.c_str(), &st) != 0) return;
    if (st.st_uid != 0 || (st.st_mode & 07777) != 0700) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
        g_watch.seen.push_back(std::string(name) + ": home owned by uid " +
                               std::to_string(st.st_uid) + ", mode " + mode);
    }
}

void swap_symlink_for_hard_link(homework::Step step, int dirfd, const char* name) {
    if (step != homework::Step::kSymlinkCreated || g_watch.swaps++ > 0) return;
    if (::unlinkat(dirfd, name, 0) != 0) std::abort();
    if (::linkat(AT_FDCWD, g_watch.victim.c_str(), dirfd, name, 0) != 0) std::abort();
}

class CreateTmphome : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_EQ(::mkdir((tmp_ / "homes").c_str(), 0755), 0);
        ASSERT_EQ(::mkdir((tmp_ / "skel").c_str(), 0755), 0);
        ASSERT_EQ(::mkdir((tmp_ / "skel/.config").c_str(), 0755), 0);
        test::write_file(tmp_ / "skel/.bashrc", "# bashrc\n");
        test::write_file(tmp_ / "skel/.config/settings", "x\n");
        ASSERT_EQ(::symlink(".config/settings", (tmp_ / "skel/settings-link").c_str()), 0);
        test::write_file(tmp_ / "victim", "root's own\n");
        ASSERT_EQ(::chmod((tmp_ / "victim").c_str(), 0600), 0);
        spec_.user = UserInfo{"patron", kUid, kGid, (tmp_ / "homes/patron").string()};
        spec_.root = (tmp_ / "homes").string();
        spec_.skel = (tmp_ / "skel").string();
        spec_.umask = 022;
        g_watch = Watch{spec_.user.home, (tmp_ / "victim").string(), {}, 0};
    }
    void TearDown() override { homework::after_step.store(nullptr); }

    test::TempDir tmp_;
    TmphomeSpec spec_;
};

TEST_F(CreateTmphome, HomeIsRootsAndPrivateUntilSkelIsIn) {
    homework::after_step.store(&record_home);
    auto made = create_tmphome(spec_);
    homework::after_step.store(nullptr);
    ASSERT_TRUE(made) << made.error().message;
    EXPECT_TRUE(g_watch.seen.empty())
        << "the user could reach the home while skel was copied: " << g_watch.seen.front();

    struct stat st {};
    ASSERT_EQ(::lstat(spec_.user.home.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, kUid);
    EXPECT_EQ(st.st_gid, kGid);
    EXPECT_EQ(st.st_mode & 07777, 0755u);  // 0777 & ~umask, set last
    ASSERT_EQ(::lstat((spec_.user.home + "/settings-link").c_str(), &st), 0);
    EXPECT_TRUE(S_ISLNK(st.st_mode));
    EXPECT_EQ(st.st_uid, kUid);
}

TEST_F(CreateTmphome, SwappedSymlinkFailsTheLoginAndLeavesTheFileOutsideAlone) {
    homework::after_step.store(&swap_symlink_for_hard_link);
    auto made = create_tmphome(spec_);
    homework::after_step.store(nullptr);
    ASSERT_EQ(g_watch.swaps, 1);
    struct stat st {};
    ASSERT_EQ(::lstat((tmp_ / "victim").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_gid, 0u);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(test::read_file(tmp_ / "victim"), "root's own\n");
    ASSERT_FALSE(made) << "the copy accepted a hard link to a file outside as its own symlink";
    EXPECT_EQ(made.error().name, bus::kErrorFailed);
    EXPECT_NE(made.error().message.find("settings-link"), std::string::npos)
        << made.error().message;

    // The half-made home is gone; the next login starts clean.
    EXPECT_NE(::lstat(spec_.user.home.c_str(), &st), 0);
}

TEST_F(CreateTmphome, HalfMadeHomeOfACrashIsWipedAtTheNextLogin) {
    // What a daemon killed during the copy leaves: root's, 0700, part of skel.
    ASSERT_EQ(::mkdir(spec_.user.home.c_str(), 0700), 0);
    test::write_file(spec_.user.home + "/.bashrc", "half");
    auto made = create_tmphome(spec_);
    ASSERT_TRUE(made) << made.error().message;
    EXPECT_EQ(test::read_file(spec_.user.home + "/.bashrc"), "# bashrc\n");
    struct stat st {};
    ASSERT_EQ(::lstat(spec_.user.home.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, kUid);
}

TEST_F(CreateTmphome, DirectoryOfRootsThatWeDidNotMakeIsLeftAlone) {
    ASSERT_EQ(::mkdir(spec_.user.home.c_str(), 0755), 0);
    ASSERT_EQ(::chmod(spec_.user.home.c_str(), 0755), 0);
    test::write_file(spec_.user.home + "/keep", "admin's");
    auto made = create_tmphome(spec_);
    ASSERT_FALSE(made);
    EXPECT_EQ(made.error().name, bus::kErrorHomeUnsafe);
    EXPECT_EQ(test::read_file(spec_.user.home + "/keep"), "admin's");
}

}  // namespace
}  // namespace pershome
