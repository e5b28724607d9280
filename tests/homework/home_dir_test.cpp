#include "homework/home_dir.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "temp_dir.hpp"

namespace pershome::homework {
namespace {

using test::TempDir;

TEST(CreateHomeDir, RootsAndPrivateUntilHandedOver) {
    TempDir tmp;
    const mode_t old = ::umask(0777);  // the result must not depend on it
    auto fd = create_home_dir(tmp.fd(), "alice");
    ::umask(old);
    ASSERT_TRUE(fd) << fd.error();
    struct stat st {};
    ASSERT_EQ(::lstat((tmp / "alice").c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(::mkdirat(fd->get(), "sub", 0700), 0);
    EXPECT_TRUE(test::exists(tmp / "alice/sub"));

    auto given = hand_over(fd->get(), 12345, 23456, 0755);
    ASSERT_TRUE(given) << given.error();
    ASSERT_EQ(::lstat((tmp / "alice").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0755u);
    EXPECT_EQ(st.st_uid, 12345u);
    EXPECT_EQ(st.st_gid, 23456u);
}

TEST(CreateHomeDir, HandOverDropsSetuidSetgid) {
    TempDir tmp;
    auto fd = create_home_dir(tmp.fd(), "bob");
    ASSERT_TRUE(fd) << fd.error();
    ASSERT_TRUE(hand_over(fd->get(), 1, 1, 06777));
    EXPECT_EQ(test::mode_of(tmp / "bob") & 07777, 0777u);
}

TEST(CreateHomeDir, RefusesExistingEntryAndSymlink) {
    TempDir tmp;
    test::make_dir(tmp / "target", 0700);
    ASSERT_EQ(::symlink((tmp / "target").c_str(), (tmp / "link").c_str()), 0);
    test::make_dir(tmp / "existing", 0700);
    EXPECT_FALSE(create_home_dir(tmp.fd(), "link"));
    EXPECT_FALSE(create_home_dir(tmp.fd(), "existing"));
    EXPECT_FALSE(create_home_dir(tmp.fd(), "a/b"));
    EXPECT_FALSE(create_home_dir(tmp.fd(), ".."));
    struct stat st {};
    ASSERT_EQ(::stat((tmp / "target").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
}

}  // namespace
}  // namespace pershome::homework
