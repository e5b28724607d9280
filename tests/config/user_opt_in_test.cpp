#include "config/user_opt_in.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "common/unique_fd.hpp"
#include "tests/support/temp_dir.hpp"

namespace pershome::config {
namespace {

using test::TempDir;

TEST(UserOptIn, EmptyFileMeansDefaults) {
    Diagnostics d;
    UserOptIn u = parse_user_opt_in("", "~/.persistent_home", d);
    EXPECT_TRUE(d.empty());
    EXPECT_TRUE(u.options.empty());
    EXPECT_EQ(u.file, "~/.persistent_home");
}

TEST(UserOptIn, CommentsOnly) {
    Diagnostics d;
    UserOptIn u = parse_user_opt_in("# yes please\n\n", "f", d);
    EXPECT_TRUE(d.empty());
    EXPECT_TRUE(u.options.empty());
}

TEST(UserOptIn, OptionsOnOneOrManyLines) {
    Diagnostics d;
    UserOptIn u = parse_user_opt_in(
        "stick=label:JOSEPH\r\nflush=30 # spare my stick\nfallback=deny\n", "f", d);
    EXPECT_TRUE(d.empty());
    EXPECT_EQ(u.options.stick->str(), "label:JOSEPH");
    EXPECT_EQ(u.options.flush, std::chrono::seconds(30));
    EXPECT_EQ(u.options.fallback, Fallback::Deny);

    UserOptIn v = parse_user_opt_in("stick=\"label:MY STICK\" flush=0", "f", d);
    EXPECT_TRUE(d.empty());
    EXPECT_EQ(v.options.stick->value, "MY STICK");
    EXPECT_EQ(v.options.flush, std::chrono::seconds(0));
}

TEST(UserOptIn, BadWordsAreIgnoredOneByOne) {
    Diagnostics d;
    UserOptIn u =
        parse_user_opt_in("yes please\nflush=10 colour=red\nflush=20\nstick=usb\n", "f", d);
    EXPECT_EQ(u.options.flush, std::chrono::seconds(10));
    EXPECT_FALSE(u.options.stick);
    ASSERT_EQ(d.size(), 5u);
    EXPECT_EQ(d[0].str(), "f:1: unexpected \"yes\" (options are written key=value); ignored");
    EXPECT_EQ(d[1].str(), "f:1: unexpected \"please\" (options are written key=value); ignored");
    EXPECT_EQ(d[2].str(),
              "f:2: unknown option \"colour\" (known: stick, fallback, flush); ignored");
    EXPECT_EQ(d[3].str(), "f:3: option \"flush\" given twice; the first one counts; ignored");
    EXPECT_EQ(d[4].line, 4);
}

TEST(UserOptIn, ControlBytesAndLongLines) {
    Diagnostics d;
    std::string text = std::string("flush=1\x01\n", 9) + std::string(5000, 'x') + "\nflush=2\n";
    UserOptIn u = parse_user_opt_in(text, "f", d);
    EXPECT_EQ(u.options.flush, std::chrono::seconds(2));
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0].line, 1);
    EXPECT_EQ(d[1].line, 2);
}

TEST(UserOptIn, DiagnosticsAreCapped) {
    Diagnostics d{Diagnostic{"other", 1, Severity::Error, "kept"}};
    std::string text;
    for (int i = 0; i < 1000; ++i) text += "bad" + std::to_string(i) + "\n";
    text += "flush=4\n";
    UserOptIn u = parse_user_opt_in(text, "f", d);
    EXPECT_EQ(u.options.flush, std::chrono::seconds(4));  // good words still count
    ASSERT_EQ(d.size(), 1u + kMaxUserOptInDiagnostics + 1u);
    EXPECT_EQ(d[0].message, "kept");  // earlier diagnostics are not touched
    EXPECT_EQ(d[1].message, "unexpected \"bad0\" (options are written key=value); ignored");
    EXPECT_EQ(d.back().str(), "f: 980 more problems not shown");
}

TEST(UserOptIn, CappedAt64KiB) {
    Diagnostics d;
    std::string text = std::string(70000, '\n') + "flush=9\n";
    UserOptIn u = parse_user_opt_in(text, "f", d);
    EXPECT_FALSE(u.options.flush);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_NE(d[0].message.find("larger than 65536"), std::string::npos);
}

class UserOptInLoad : public ::testing::Test {
  protected:
    UserOptInLoad() : dirfd_(::open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {}

    std::string file() const { return (dir_.path() / ".persistent_home").string(); }
    std::optional<UserOptIn> load(uid_t owner) {
        return load_user_opt_in(dirfd_.get(), owner, "/home/joe/.persistent_home", diags_);
    }

    TempDir dir_;
    UniqueFd dirfd_;
    Diagnostics diags_;
};

TEST_F(UserOptInLoad, AbsentFileIsNoOptIn) {
    EXPECT_FALSE(load(::getuid()));
    EXPECT_TRUE(diags_.empty());
}

TEST_F(UserOptInLoad, PresentFileIsOptIn) {
    dir_.write(".persistent_home", "flush=12\n");
    ASSERT_EQ(::chmod(file().c_str(), 0644), 0);
    auto u = load(::getuid());
    ASSERT_TRUE(u);
    EXPECT_EQ(u->options.flush, std::chrono::seconds(12));
    EXPECT_EQ(u->file, "/home/joe/.persistent_home");
    EXPECT_TRUE(diags_.empty());
}

TEST_F(UserOptInLoad, EmptyFileIsOptIn) {
    dir_.write(".persistent_home", "");
    ASSERT_EQ(::chmod(file().c_str(), 0600), 0);
    auto u = load(::getuid());
    ASSERT_TRUE(u);
    EXPECT_TRUE(u->options.empty());
}

TEST_F(UserOptInLoad, SymlinkIsNotFollowed) {
    std::string target = dir_.write("elsewhere", "stick=any\n");
    ASSERT_EQ(::symlink(target.c_str(), file().c_str()), 0);
    EXPECT_FALSE(load(::getuid()));
    ASSERT_EQ(diags_.size(), 1u);
    EXPECT_EQ(diags_[0].str(),
              "/home/joe/.persistent_home: is a symbolic link; file ignored, no opt-in");
}

TEST_F(UserOptInLoad, DirectoryIsRefused) {
    ASSERT_EQ(::mkdir(file().c_str(), 0755), 0);
    EXPECT_FALSE(load(::getuid()));
    ASSERT_EQ(diags_.size(), 1u);
    EXPECT_NE(diags_[0].message.find("Is a directory"), std::string::npos);
}

TEST_F(UserOptInLoad, FifoIsRefusedWithoutBlocking) {
    ASSERT_EQ(::mkfifo(file().c_str(), 0600), 0);
    EXPECT_FALSE(load(::getuid()));
    ASSERT_EQ(diags_.size(), 1u);
    EXPECT_NE(diags_[0].message.find("not a regular file"), std::string::npos);
}

TEST_F(UserOptInLoad, WritableByOthersIsRefused) {
    dir_.write(".persistent_home", "");
    ASSERT_EQ(::chmod(file().c_str(), 0666), 0);
    EXPECT_FALSE(load(::getuid()));
    ASSERT_EQ(diags_.size(), 1u);
    EXPECT_EQ(diags_[0].message, "writable by group or others; file ignored, no opt-in");
}

TEST_F(UserOptInLoad, WrongOwnerIsRefused) {
    dir_.write(".persistent_home", "");
    ASSERT_EQ(::chmod(file().c_str(), 0644), 0);
    if (::getuid() != 0) GTEST_SKIP() << "needs root to chown";
    ASSERT_EQ(::chown(file().c_str(), 4321, 4321), 0);
    EXPECT_FALSE(load(1234));
    ASSERT_EQ(diags_.size(), 1u);
    EXPECT_EQ(diags_[0].message,
              "owned by uid 4321, not by the user (uid 1234); file ignored, no opt-in");
    diags_.clear();
    EXPECT_TRUE(load(4321));  // the user's own file
}

TEST_F(UserOptInLoad, RootOwnedFileIsRefused) {
    // A hard link to a root file must not get its content quoted into the log.
    dir_.write(".persistent_home", "secret-word\n");
    ASSERT_EQ(::chmod(file().c_str(), 0644), 0);
    if (::getuid() != 0) GTEST_SKIP() << "needs root to own the file";
    EXPECT_FALSE(load(1234));
    ASSERT_EQ(diags_.size(), 1u);
    EXPECT_EQ(diags_[0].message,
              "owned by uid 0, not by the user (uid 1234); file ignored, no opt-in");
}

TEST_F(UserOptInLoad, OversizedFileIsRefused) {
    dir_.write(".persistent_home", std::string(kMaxUserOptInBytes + 1, '#'));
    ASSERT_EQ(::chmod(file().c_str(), 0600), 0);
    EXPECT_FALSE(load(::getuid()));
    ASSERT_EQ(diags_.size(), 1u);
    EXPECT_NE(diags_[0].message.find("larger than 65536 bytes"), std::string::npos);
}

}  // namespace
}  // namespace pershome::config
