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
    const char* user;  // one whose passwd home lies below the root
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
        {"slash", "/", "/", "patron3"},
        {"home", "/home", "/home", "hh"},
        {"inhome", "/home/x", "/home", "hx"},
        {"dotdot", "/srv/../home", "/home", "hh"},
        {"relative", "tmphome", "tmphome", "patron3", false},
        {"worldwritable", (sys.dir() / "open").string(), "writable", "wopen"},
        {"notroot", (sys.dir() / "owned").string(), "owned", "wowned"},
        {"symlink", (sys.dir() / "link").string(), "link", "wlink"},
    };
    for (const auto& c : cases) {
        sys.service(c.name, "tmphome=" + c.root + " skel=" + sys.skel().string());
        auto login = sys.login(c.user, c.name);
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

// NSS may give one account two names (SSSD and AD answer "ALICE" for "alice").
// The second name joins the live home; it must never be taken for a leftover.
TEST_F(TmphomeTest, TwoNamesOfOneAccountShareOneLiveHome) {
    auto first = sys.login("patron3");
    ASSERT_EQ(first->open_rc, kPamSuccess) << first->open_text;
    first->run("echo mine > letter.txt");
    auto other_name = sys.login("Patron3");
    ASSERT_EQ(other_name->open_rc, kPamSuccess) << other_name->open_text;
    EXPECT_EQ(read_file(sys.home("patron3") / "letter.txt"), "mine\n")
        << "the login under the second name wiped the live home";
    EXPECT_EQ(sys.session_references("patron3"), 2u);

    EXPECT_EQ(other_name->close(), kPamSuccess);
    EXPECT_EQ(read_file(sys.home("patron3") / "letter.txt"), "mine\n");
    EXPECT_EQ(sys.session_references("patron3"), 1u);
    EXPECT_EQ(first->close(), kPamSuccess);
    EXPECT_TRUE(eventually([&] { return !present(sys.home("patron3")); }));
    EXPECT_EQ(sys.daemon_log().find("lost its fd"), std::string::npos) << sys.daemon_log();
}

TEST_F(TmphomeTest, AnotherAccountWithTheSameHomeIsRefused) {
    auto owner = sys.login("patron4");
    ASSERT_EQ(owner->open_rc, kPamSuccess) << owner->open_text;
    owner->run("echo mine > letter.txt");
    auto intruder = sys.login("intruder");
    EXPECT_EQ(intruder->open_rc, kPamSessionErr) << intruder->open_text;
    EXPECT_NE(intruder->open_text.find("in use by another account"), std::string::npos)
        << intruder->open_text;
    EXPECT_EQ(read_file(sys.home("patron4") / "letter.txt"), "mine\n");
    EXPECT_EQ(lstat_of(sys.home("patron4")).st_uid, sys.uid_of("patron4"));
    EXPECT_EQ(owner->close(), kPamSuccess);
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

// A root that the daemon does not allow is an error of the PAM line, but only
// for the users it would apply to: staff, whose home is elsewhere, log in.
TEST(TmphomeRoots, ARootNotAllowedFailsOnlyTheUsersBelowIt) {
    PershomeSystem sys;
    sys.configure(",\n  \"tmphome_roots\": [\"/srv/tmphome\"]");
    sys.start_daemon();
    auto staff = sys.login("staff");
    EXPECT_EQ(staff->open_rc, kPamSuccess) << staff->open_text << sys.daemon_log();
    EXPECT_EQ(sys.daemon_log().find("not among the daemon's configured"), std::string::npos)
        << sys.daemon_log();
    auto patron = sys.login("patron8");
    EXPECT_EQ(patron->open_rc, kPamSessionErr) << patron->open_text;
    EXPECT_NE(patron->open_text.find("not among the daemon's configured tmphome_roots"),
              std::string::npos)
        << patron->open_text;
    EXPECT_FALSE(present(sys.home("patron8")));
}

// A login that gives up at its timeout= while the daemon still makes the
// home (the daemon is made slow on purpose). Under `optional` the login goes
// on: it must be told, and the home made for it must not stay for anyone to
// write into and lose at a later hang-up.
TEST(TmphomeTimeout, ALoginThatGaveUpGetsNoHomeAndTheNextLoginDoes) {
    PershomeSystem sys;
    sys.daemon_env("PERSHOMED_TEST_SLOW_OPEN_MS=2500");
    sys.start_daemon();
    sys.service(
        "impatient",
        "tmphome=" + sys.tmphome().string() + "/ skel=" + sys.skel().string() + "/ timeout=1",
        "optional");
    const auto t0 = Clock::now();
    auto gave_up = sys.login("patron9", "impatient");
    EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(2400)) << "timeout=1 not kept";
    EXPECT_NE(gave_up->open_text.find("did not answer within 1 s"), std::string::npos)
        << gave_up->open_text;
    EXPECT_TRUE(eventually(
        [&] { return sys.daemon_log().find("gave up waiting") != std::string::npos; }, 15))
        << sys.daemon_log();
    EXPECT_TRUE(eventually([&] { return !present(sys.home("patron9")); }))
        << "the home made for a login that went away was left";
    EXPECT_FALSE(sys.session_references("patron9").has_value());
    gave_up->close();

    auto patient = sys.login("patron9");
    ASSERT_EQ(patient->open_rc, kPamSuccess) << patient->open_text;
    EXPECT_TRUE(present(sys.home("patron9") / ".bashrc"));
    EXPECT_EQ(sys.session_references("patron9"), 1u);
    EXPECT_EQ(patient->close(), kPamSuccess);
}

// The daemon is killed in the middle of a login: the home is made, the
// answer not yet sent. The login is told; the home, which no record names,
// is a leftover that the next login wipes and makes afresh.
TEST(TmphomeTimeout, ADaemonKilledMidLoginLeavesNothingTheNextLoginUses) {
    PershomeSystem sys;
    sys.daemon_env("PERSHOMED_TEST_SLOW_OPEN_MS=60000");
    sys.start_daemon();
    auto login = sys.start_login("patron10");
    ASSERT_TRUE(eventually([&] { return present(sys.home("patron10") / ".bashrc"); }, 20));
    write_file(sys.home("patron10") / "planted.txt", "not from skel\n");
    sys.kill_daemon(SIGKILL);
    PershomeSystem::wait_open(*login);
    EXPECT_EQ(login->open_rc, kPamSessionErr) << login->open_text;
    login->close();

    sys.clear_daemon_env();
    sys.start_daemon();
    auto again = sys.login("patron10");
    ASSERT_EQ(again->open_rc, kPamSuccess) << again->open_text << sys.daemon_log();
    EXPECT_TRUE(present(sys.home("patron10") / ".bashrc"));
    EXPECT_FALSE(present(sys.home("patron10") / "planted.txt"))
        << "the half-made home of the killed daemon's login was handed out";
    EXPECT_EQ(again->close(), kPamSuccess);
    EXPECT_TRUE(eventually([&] { return !present(sys.home("patron10")); }));
}

// A record that names a root the admin no longer allows (or that was put into
// the state dir by hand) must not make root remove what it names.
TEST(TmphomeRecovery, ARecordOutsideTheAllowedRootsIsSetAsideAndNothingRemoved) {
    PershomeSystem sys;
    sys.configure(",\n  \"tmphome_roots\": [\"" + sys.tmphome().string() + "\"]");
    const fs::path other = sys.dir() / "precious";
    fs::create_directories(other / "patron7");
    write_file(other / "patron7" / "thesis.odt", "years of work\n");
    // Owned by the user, as a real home would be: only the root check stands
    // between the record and its removal.
    for (const auto& p : {other / "patron7", other / "patron7" / "thesis.odt"})
        ASSERT_EQ(chown(p.c_str(), sys.uid_of("patron7"), sys.uid_of("patron7")), 0);
    const std::string uid = std::to_string(sys.uid_of("patron7"));
    fs::create_directories(sys.state_dir() / "sessions");
    fs::permissions(sys.state_dir() / "sessions", fs::perms(0700));
    write_file(sys.state_dir() / "sessions" / (uid + ".json"),
               R"({"version": 1, "user": "patron7", "uid": )" + uid + R"(, "gid": )" + uid +
                   R"(, "mode": "tmphome", "home": ")" + (other / "patron7").string() +
                   R"(", "tmphome_root": ")" + other.string() +
                   R"(", "state": "closing", "opened_usec": 1, "references": []})");
    sys.start_daemon();
    EXPECT_TRUE(eventually([&] {
        return fs::exists(sys.state_dir() / "sessions" / (uid + ".json.rejected"));
    })) << sys.daemon_log();
    EXPECT_FALSE(sys.session_references("patron7").has_value());
    EXPECT_EQ(read_file(other / "patron7" / "thesis.odt"), "years of work\n");
    EXPECT_NE(sys.daemon_log().find("is not among the configured tmphome_roots"), std::string::npos)
        << sys.daemon_log();
}

}  // namespace
}  // namespace pershome::test
