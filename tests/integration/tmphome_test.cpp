// Temporary homes end to end: real pershomed, real dbus-daemon with the
// shipped policy, real Linux-PAM (pam_wrapper) with pam_pershome.so, fake
// users (nss_wrapper). Runs inside a private mount namespace (see CMakeLists).
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcntl.h>

#include <thread>

#include "tests/integration/pershome_system.hpp"

namespace pershome::test {
namespace {

constexpr int kPamSuccess = 0;
constexpr int kPamSessionErr = 14;

struct stat lstat_of(const fs::path& p) {
    struct stat st {};
    if (lstat(p.c_str(), &st) < 0) st.st_mode = 0;
    return st;
}

bool present(const fs::path& p) {
    struct stat st {};
    return lstat(p.c_str(), &st) == 0;
}

class TmphomeTest : public ::testing::Test {
  protected:
    void SetUp() override { sys.start_daemon(); }
    void TearDown() override {
        if (HasFailure()) {
            sys.keep_on_failure();
            std::cerr << "--- pershomed log:\n" << sys.daemon_log();
        }
    }
    PershomeSystem sys;
};

TEST_F(TmphomeTest, LoginCreatesHomeFromSkelAndLogoutRemovesIt) {
    auto login = sys.login("patron1");
    ASSERT_EQ(login->open_rc, kPamSuccess) << login->open_text << login->child.err_text;
    const fs::path home = sys.home("patron1");
    EXPECT_NE(login->open_text.find("info: Your home " + home.string() +
                                    " is temporary: everything in it is deleted when you log "
                                    "out."),
              std::string::npos)
        << login->open_text;

    struct stat st = lstat_of(home);
    ASSERT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_uid, sys.uid_of("patron1"));
    EXPECT_EQ(st.st_gid, sys.uid_of("patron1"));
    EXPECT_EQ(st.st_mode & 07777, 0700u);  // 0777 & ~umask 0077

    EXPECT_EQ(read_file(home / ".bashrc"), "# demo bashrc\n");
    EXPECT_EQ(lstat_of(home / ".config/app/settings").st_mode & 07777, 0600u);
    EXPECT_EQ(lstat_of(home / ".config/app/settings").st_uid, sys.uid_of("patron1"));
    ASSERT_TRUE(S_ISLNK(lstat_of(home / "settings-link").st_mode));
    EXPECT_EQ(fs::read_symlink(home / "settings-link"), ".config/app/settings");

    int status = -1;
    EXPECT_EQ(login->run("echo report > draft.txt && cat draft.txt && id -u", &status),
              "report\n" + std::to_string(sys.uid_of("patron1")) + "\n");
    EXPECT_EQ(status, 0);

    EXPECT_EQ(sys.session_references("patron1"), 1u);
    EXPECT_EQ(sys.session_property_string("patron1", "Mode"), "tmphome");
    EXPECT_EQ(sys.session_property_string("patron1", "Home"), home.string());
    EXPECT_EQ(sys.session_property_string("patron1", "State"), "active");

    EXPECT_EQ(login->close(), kPamSuccess);
    EXPECT_TRUE(eventually([&] { return !present(home); })) << "home still there after logout";
    EXPECT_TRUE(eventually([&] { return !sys.session_references("patron1").has_value(); }));
    EXPECT_TRUE(eventually([&] { return fs::is_empty(sys.state_dir() / "sessions"); }));
    EXPECT_TRUE(fs::is_empty(sys.state_dir() / "refs"));
}

TEST_F(TmphomeTest, LoginRightAfterLogoutGetsAFreshHome) {
    auto first = sys.login("patron14");
    ASSERT_EQ(first->open_rc, kPamSuccess);
    first->run("echo old > old.txt");
    ASSERT_EQ(first->close(), kPamSuccess);
    // No wait: the new login queues behind the removal of the old home.
    auto again = sys.login("patron14");
    ASSERT_EQ(again->open_rc, kPamSuccess) << again->open_text;
    EXPECT_FALSE(present(sys.home("patron14") / "old.txt"));
    EXPECT_TRUE(present(sys.home("patron14") / ".bashrc"));
    EXPECT_EQ(again->close(), kPamSuccess);
}

TEST_F(TmphomeTest, SecondSessionReusesHomeUntilLastLogout) {
    auto first = sys.login("patron2");
    ASSERT_EQ(first->open_rc, kPamSuccess) << first->open_text;
    first->run("echo kept > work.txt");
    auto second = sys.login("patron2");
    ASSERT_EQ(second->open_rc, kPamSuccess) << second->open_text;
    EXPECT_EQ(read_file(sys.home("patron2") / "work.txt"), "kept\n") << "second login wiped home";
    EXPECT_EQ(sys.session_references("patron2"), 2u);

    EXPECT_EQ(first->close(), kPamSuccess);
    EXPECT_TRUE(present(sys.home("patron2") / "work.txt"));
    EXPECT_EQ(sys.session_references("patron2"), 1u);

    EXPECT_EQ(second->close(), kPamSuccess);
    EXPECT_TRUE(eventually([&] { return !present(sys.home("patron2")); }));
}

TEST_F(TmphomeTest, FiftyUsersOpenAndCloseAtOnce) {
    std::vector<std::unique_ptr<Login>> logins;
    for (int i = 0; i < 50; ++i) {
        logins.push_back(sys.start_login("patron" + std::to_string(i), "login", true));
    }
    // All 50 OpenSession calls reach the daemon together.
    for (auto& l : logins) PershomeSystem::open_now(*l);
    for (auto& l : logins) PershomeSystem::wait_open(*l);
    for (int i = 0; i < 50; ++i) {
        const std::string user = "patron" + std::to_string(i);
        ASSERT_EQ(logins[i]->open_rc, kPamSuccess) << user << ": " << logins[i]->open_text;
        ASSERT_TRUE(present(sys.home(user) / ".bashrc")) << user;
        EXPECT_EQ(lstat_of(sys.home(user)).st_uid, sys.uid_of(user));
    }
    for (auto& l : logins) l->child.write_stdin("close\n");
    for (int i = 0; i < 50; ++i) {
        auto line = logins[i]->child.wait_line("close ", Clock::now() + std::chrono::seconds(60));
        ASSERT_TRUE(line.has_value()) << "patron" << i;
        EXPECT_EQ(*line, "close 0 Success");
    }
    for (int i = 0; i < 50; ++i) {
        EXPECT_TRUE(eventually([&] { return !present(sys.home("patron" + std::to_string(i))); }));
    }
}

TEST_F(TmphomeTest, UserOutsideTmphomeRootIsIgnored) {
    // The module answers PAM_IGNORE, so the rest of the stack decides.
    auto login = sys.login("staff");
    EXPECT_EQ(login->open_rc, kPamSuccess) << login->open_text;
    EXPECT_FALSE(present(sys.dir() / "homes"));
    EXPECT_FALSE(sys.session_references("staff").has_value());
    EXPECT_NE(sys.daemon_log().find("not below tmphome root"), std::string::npos);
    EXPECT_EQ(login->close(), kPamSuccess);
}

struct BadRoot {
    const char* name;
    std::string root;
    const char* says;
    // Refused by the daemon, whose sentence reaches the user; a malformed
    // PAM argument is refused by the module itself and only logged.
    bool told_to_user = true;
};

TEST_F(TmphomeTest, UnsafeTmphomeRootsAreRefusedAndNothingIsCreated) {
    fs::create_directory(sys.dir() / "open");
    fs::permissions(sys.dir() / "open", fs::perms(0777));
    fs::create_directory(sys.dir() / "owned");
    ASSERT_EQ(chown((sys.dir() / "owned").c_str(), 20001, 20001), 0);
    fs::create_symlink(sys.tmphome(), sys.dir() / "link");
    const std::vector<BadRoot> cases = {
        {"slash", "/", "/"},
        {"home", "/home", "/home"},
        {"inhome", "/home/x", "/home"},
        {"dotdot", "/srv/../home", "/home"},
        {"relative", "tmphome", "tmphome", false},
        {"worldwritable", (sys.dir() / "open").string(), "writable"},
        {"notroot", (sys.dir() / "owned").string(), "owned"},
        {"symlink", (sys.dir() / "link").string(), "link"},
    };
    for (const auto& c : cases) {
        sys.service(c.name, "tmphome=" + c.root + " skel=" + sys.skel().string());
        auto login = sys.login("patron3", c.name);
        EXPECT_EQ(login->open_rc, kPamSessionErr) << c.name << ": " << login->open_text;
        const std::string& where = c.told_to_user ? login->open_text : login->child.err_text;
        EXPECT_NE(where.find(c.says), std::string::npos)
            << c.name << ": not told why: " << login->open_text << login->child.err_text;
        login->close();
    }
    EXPECT_TRUE(fs::is_empty(sys.tmphome()));
    EXPECT_TRUE(fs::is_empty(sys.dir() / "open"));
    EXPECT_TRUE(fs::is_empty(sys.dir() / "owned"));
}

TEST_F(TmphomeTest, SymlinksPlantedInHomeAreNotFollowedAtRemoval) {
    fs::create_directory(sys.dir() / "precious");
    write_file(sys.dir() / "precious" / "data", "keep me\n");
    auto login = sys.login("patron4");
    ASSERT_EQ(login->open_rc, kPamSuccess);
    const std::string outside = (sys.dir() / "precious").string();
    login->run("ln -s " + outside + " escape && ln -s " + outside + "/data data-link");
    ASSERT_EQ(login->close(), kPamSuccess);
    EXPECT_TRUE(eventually([&] { return !present(sys.home("patron4")); }));
    EXPECT_EQ(read_file(sys.dir() / "precious" / "data"), "keep me\n");
}

TEST_F(TmphomeTest, MountInsideHomeIsLeftUntouchedAndLogged) {
    fs::create_directory(sys.dir() / "share");
    write_file(sys.dir() / "share" / "shared.txt", "not yours\n");
    auto login = sys.login("patron5");
    ASSERT_EQ(login->open_rc, kPamSuccess);
    const fs::path mnt = sys.home("patron5") / "mnt";
    fs::create_directory(mnt);
    ASSERT_EQ(mount((sys.dir() / "share").c_str(), mnt.c_str(), nullptr, MS_BIND, nullptr), 0);
    login->close();
    EXPECT_TRUE(eventually([&] {
        return sys.daemon_log().find("mount point") != std::string::npos;
    })) << sys.daemon_log();
    EXPECT_EQ(read_file(sys.dir() / "share" / "shared.txt"), "not yours\n");
    EXPECT_EQ(read_file(mnt / "shared.txt"), "not yours\n");
    EXPECT_FALSE(present(sys.home("patron5") / ".bashrc")) << "the rest of the home was kept";
    umount2(mnt.c_str(), MNT_DETACH);
}

TEST_F(TmphomeTest, WhatCannotBeRemovedIsLoggedAndTheNextLoginRefused) {
    auto login = sys.login("patron15");
    ASSERT_EQ(login->open_rc, kPamSuccess);
    const fs::path stuck = sys.home("patron15") / "stuck.txt";
    write_file(stuck, "immutable\n");
    if (system(("chattr +i " + stuck.string() + " 2>/dev/null").c_str()) != 0) {
        login->close();
        GTEST_SKIP() << "this filesystem has no immutable flag (chattr +i)";
    }
    EXPECT_EQ(login->close(), kPamSuccess);
    EXPECT_TRUE(eventually([&] {
        return sys.daemon_log().find("could not be removed") != std::string::npos;
    })) << sys.daemon_log();
    // The old home is still there, so a fresh one cannot be made: refused,
    // with the reason, rather than reused.
    auto again = sys.login("patron15");
    EXPECT_EQ(again->open_rc, kPamSessionErr) << again->open_text;
    EXPECT_NE(again->open_text.find("not removed completely"), std::string::npos)
        << again->open_text;
    again->close();
    EXPECT_EQ(system(("chattr -i " + stuck.string()).c_str()), 0);
}

TEST_F(TmphomeTest, UnreadableDirectoriesAreRemoved) {
    auto login = sys.login("patron6");
    ASSERT_EQ(login->open_rc, kPamSuccess);
    int status = -1;
    login->run(
        "mkdir -p locked/inner && touch locked/inner/f locked/g && chmod 000 locked/inner "
        "locked",
        &status);
    ASSERT_EQ(status, 0);
    EXPECT_EQ(login->close(), kPamSuccess);
    EXPECT_TRUE(eventually([&] { return !present(sys.home("patron6")); }));
}

TEST_F(TmphomeTest, DeepAndWideTreesAreRemoved) {
    auto login = sys.login("patron7");
    ASSERT_EQ(login->open_rc, kPamSuccess);
    const fs::path home = sys.home("patron7");
    // 10,000 levels deep, built with dirfds (paths that long exceed PATH_MAX).
    int fd = open(home.c_str(), O_RDONLY | O_DIRECTORY);
    ASSERT_GE(fd, 0);
    for (int i = 0; i < 10000; ++i) {
        ASSERT_EQ(mkdirat(fd, "d", 0755), 0);
        int next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
        close(fd);
        ASSERT_GE(next, 0);
        fd = next;
    }
    close(fd);
    // 100,000 files wide.
    fs::create_directory(home / "wide");
    int wide = open((home / "wide").c_str(), O_RDONLY | O_DIRECTORY);
    for (int i = 0; i < 100000; ++i) {
        int f = openat(wide, std::to_string(i).c_str(), O_CREAT | O_WRONLY, 0644);
        ASSERT_GE(f, 0);
        close(f);
    }
    close(wide);
    EXPECT_EQ(login->close(), kPamSuccess);
    EXPECT_TRUE(eventually([&] { return !present(home); }, 120));
}

TEST_F(TmphomeTest, LeftoverHomeFromCrashIsWipedAtNextLogin) {
    fs::create_directory(sys.home("patron8"));
    write_file(sys.home("patron8") / "stale.txt", "from yesterday\n");
    ASSERT_EQ(chown(sys.home("patron8").c_str(), sys.uid_of("patron8"), sys.uid_of("patron8")), 0);
    auto login = sys.login("patron8");
    ASSERT_EQ(login->open_rc, kPamSuccess) << login->open_text;
    EXPECT_FALSE(present(sys.home("patron8") / "stale.txt"));
    EXPECT_TRUE(present(sys.home("patron8") / ".bashrc"));
    login->close();
}

TEST_F(TmphomeTest, HalfMadeHomeOfACrashedDaemonIsWipedAtNextLogin) {
    // A home is root's and 0700 until skel is in: that is what a crash leaves.
    fs::create_directory(sys.home("patron8"));
    fs::permissions(sys.home("patron8"), fs::perms(0700));
    write_file(sys.home("patron8") / ".bashrc", "half\n");
    auto login = sys.login("patron8");
    ASSERT_EQ(login->open_rc, kPamSuccess) << login->open_text;
    EXPECT_EQ(read_file(sys.home("patron8") / ".bashrc"), "# demo bashrc\n");
    EXPECT_EQ(lstat_of(sys.home("patron8")).st_uid, sys.uid_of("patron8"));
    login->close();
}

TEST_F(TmphomeTest, HomeOwnedBySomeoneElseIsNeitherUsedNorRemoved) {
    fs::create_directory(sys.home("patron9"));
    write_file(sys.home("patron9") / "theirs.txt", "other user's\n");
    ASSERT_EQ(chown(sys.home("patron9").c_str(), 20042, 20042), 0);
    auto login = sys.login("patron9");
    EXPECT_EQ(login->open_rc, kPamSessionErr) << login->open_text;
    EXPECT_EQ(read_file(sys.home("patron9") / "theirs.txt"), "other user's\n");
    login->close();
}

TEST_F(TmphomeTest, CrashedLoginReleasesItsReference) {
    auto login = sys.login("patron10");
    ASSERT_EQ(login->open_rc, kPamSuccess);
    ASSERT_TRUE(present(sys.home("patron10")));
    login->crash();  // SIGKILL: no close_session ever comes
    EXPECT_TRUE(eventually([&] { return !present(sys.home("patron10")); }))
        << "home not removed after the login process died";
}

TEST_F(TmphomeTest, DaemonKilledMidSessionRecoversAndCloseRemovesHome) {
    auto login = sys.login("patron11");
    ASSERT_EQ(login->open_rc, kPamSuccess);
    auto other = sys.login("patron12");
    ASSERT_EQ(other->open_rc, kPamSuccess);
    sys.kill_daemon(SIGKILL);
    // patron12's login dies while the daemon is down.
    other->crash();
    sys.start_daemon();
    EXPECT_EQ(sys.session_references("patron11"), 1u);
    EXPECT_TRUE(present(sys.home("patron11") / ".bashrc"));
    EXPECT_TRUE(eventually([&] { return !present(sys.home("patron12")); }))
        << "the reference of a login that died while the daemon was down was not released";
    EXPECT_EQ(login->close(), kPamSuccess);
    EXPECT_TRUE(eventually([&] { return !present(sys.home("patron11")); }));
}

TEST_F(TmphomeTest, DaemonRestartedWithSigtermKeepsSessions) {
    auto login = sys.login("patron13");
    ASSERT_EQ(login->open_rc, kPamSuccess);
    sys.kill_daemon(SIGTERM);
    EXPECT_TRUE(present(sys.home("patron13") / ".bashrc")) << "a daemon stop must not end logins";
    sys.start_daemon();
    EXPECT_EQ(sys.session_references("patron13"), 1u);
    EXPECT_EQ(login->close(), kPamSuccess);
    EXPECT_TRUE(eventually([&] { return !present(sys.home("patron13")); }));
}

}  // namespace
}  // namespace pershome::test
