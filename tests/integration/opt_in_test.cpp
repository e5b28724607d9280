// ~/.persistent_home is the user's file, read by root: pershomed reads it
// with the user's own filesystem credentials and takes it only when it is a
// regular file the user owns and nobody else may write. A hostile one is
// ignored with a log line that names the file and the reason and never
// quotes what it points at, and the login goes on at once.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "tests/integration/pershome_system.hpp"

namespace pershome::test {
namespace {

constexpr int kPamSuccess = 0;

class OptIn : public ::testing::Test {
  protected:
    void SetUp() override {
        home_ = sys.dir() / "homes" / "staff";
        fs::create_directories(home_);
        ASSERT_EQ(::chown(home_.c_str(), 19999, 19999), 0);
        fs::permissions(home_, fs::perms(0700));
        sys.start_daemon();
    }
    void TearDown() override {
        if (HasFailure()) {
            sys.keep_on_failure();
            std::cerr << "--- pershomed log:\n" << sys.daemon_log();
        }
    }
    fs::path file() const { return home_ / ".persistent_home"; }
    // Logs staff in; the login must go on, with nothing of a persistent home.
    void expect_ignored(const std::string& reason) {
        const auto t0 = Clock::now();
        auto login = sys.login("staff");
        EXPECT_LT(Clock::now() - t0, std::chrono::seconds(10)) << "the login waited";
        EXPECT_EQ(login->open_rc, kPamSuccess) << login->open_text;
        EXPECT_EQ(login->open_text.find("info:"), std::string::npos) << login->open_text;
        EXPECT_EQ(login->close(), kPamSuccess);
        const std::string log = sys.daemon_log();
        EXPECT_NE(log.find(file().string() + ": " + reason), std::string::npos) << log;
        EXPECT_EQ(log.find("SECRET-WORD"), std::string::npos) << "the log quotes the target";
        EXPECT_EQ(log.find("persistent home wanted"), std::string::npos) << log;
    }
    PershomeSystem sys;
    fs::path home_;
};

TEST_F(OptIn, SymlinkIsIgnored) {
    write_file(sys.dir() / "secret", "SECRET-WORD\n");
    fs::create_symlink(sys.dir() / "secret", file());
    ASSERT_EQ(::lchown(file().c_str(), 19999, 19999), 0);
    expect_ignored("is a symbolic link");
}

// The user's own credentials cannot even open it (as /etc/shadow's 0640).
TEST_F(OptIn, HardLinkToRootsPrivateFileIsNotEvenRead) {
    write_file(sys.dir() / "shadow", "stick=label:SECRET-WORD\n");
    fs::permissions(sys.dir() / "shadow", fs::perms(0600));
    fs::create_hard_link(sys.dir() / "shadow", file());
    expect_ignored("Permission denied");
}

TEST_F(OptIn, HardLinkToRootsReadableFileIsIgnored) {
    write_file(sys.dir() / "passwd-like", "stick=label:SECRET-WORD\n");
    fs::permissions(sys.dir() / "passwd-like", fs::perms(0644));
    fs::create_hard_link(sys.dir() / "passwd-like", file());
    expect_ignored("owned by uid 0, not by the user (uid 19999)");
}

TEST_F(OptIn, FifoIsIgnoredWithoutWaiting) {
    ASSERT_EQ(::mkfifo(file().c_str(), 0600), 0);
    ASSERT_EQ(::chown(file().c_str(), 19999, 19999), 0);
    expect_ignored("not a regular file");
}

TEST_F(OptIn, HugeFileIsIgnored) {
    { std::ofstream(file()) << "fallback=none\n"; }
    fs::resize_file(file(), 1ull << 30);  // 1 GiB, sparse
    ASSERT_EQ(::chown(file().c_str(), 19999, 19999), 0);
    expect_ignored("file is larger than 65536 bytes");
}

TEST_F(OptIn, WritableByOthersIsIgnored) {
    write_file(file(), "fallback=none\n");
    ASSERT_EQ(::chown(file().c_str(), 19999, 19999), 0);
    fs::permissions(file(), fs::perms(0666));
    expect_ignored("writable by group or others");
}

TEST_F(OptIn, AGoodFileIsTakenAndItsFallbackApplies) {
    write_file(file(), "fallback=none # no stick here\n");
    ASSERT_EQ(::chown(file().c_str(), 19999, 19999), 0);
    auto login = sys.login("staff");
    EXPECT_EQ(login->open_rc, kPamSuccess) << login->open_text;
    EXPECT_NE(login->open_text.find("info: No USB stick with a pershome folder is plugged in"),
              std::string::npos)
        << login->open_text;
    EXPECT_NE(login->open_text.find("Your usual home directory is used instead."),
              std::string::npos);
    EXPECT_EQ(login->close(), kPamSuccess);
}

}  // namespace
}  // namespace pershome::test
