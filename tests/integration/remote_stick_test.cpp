// A remote stick (LTSP5's ltspfs path) on the host, end to end: AttachDevice
// names a mount backend from pershomed.json (bindfs here, a FUSE program
// Debian has, standing in for ltspfs, which Debian 12 does not ship), a login
// through the real PAM stack gets the stick's pershome/ as its home through
// pershome-fs, and the logout undoes both mounts. Inside the test's private
// mount namespace; the source is a plain directory, not a FAT.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <signal.h>

#include <fstream>

#include "common/bus_names.hpp"
#include "tests/integration/pershome_system.hpp"

namespace pershome::test {
namespace {

constexpr int kPamSuccess = 0;

// The type and source of the topmost mount at P, as findmnt shows them.
std::pair<std::string, std::string> mount_at(const fs::path& p) {
    std::ifstream mi("/proc/self/mountinfo");
    std::string line, type, source;
    while (std::getline(mi, line)) {
        std::istringstream w(line);
        std::string f[5];
        for (auto& x : f) w >> x;
        if (f[4] != p.string()) continue;
        auto dash = line.find(" - ");
        std::istringstream rest(line.substr(dash + 3));
        rest >> type >> source;
    }
    return {type, source};
}

std::string mount_type_at(const fs::path& p) {
    return mount_at(p).first;
}

class RemoteStick : public ::testing::Test {
  protected:
    virtual std::string extra_config() const { return ""; }
    void SetUp() override {
        if (::access("/usr/bin/bindfs", X_OK) != 0) GTEST_SKIP() << "bindfs is not installed";
        source_ = sys.dir() / "terminal-stick";
        fs::create_directories(source_ / "pershome");
        write_file(sys.dir() / "persistent_homes", "*\n");
        sys.configure(
            ",\n  \"pershome_fs\": \"" + std::string(PERSHOME_FS_PATH) +
            "\",\n  \"stick_backends\": {\"bindfs\": [\"bindfs\", \"{source}\", "
            "\"{mountpoint}\"], \"slow\": [\"sh\", \"-c\", \"sleep 1.5 && exec bindfs "
            "\\\"$0\\\" \\\"$1\\\"\", \"{source}\", \"{mountpoint}\"], "
            "\"hang\": [\"sh\", \"-c\", \"exec sleep 600\", \"{source}\", \"{mountpoint}\"], "
            // Mounts for the probe, hangs at the login's mount.
            "\"hang-at-login\": [\"sh\", \"-c\", \"[ -e \\\"$0.probed\\\" ] && exec sleep 600; "
            ": > \\\"$0.probed\\\"; exec bindfs \\\"$0\\\" \\\"$1\\\"\", \"{source}\", "
            "\"{mountpoint}\"]},\n  "
            "\"logout_grace_sec\": 1" +
            extra_config());
        sys.start_daemon();
    }
    void TearDown() override {
        if (HasFailure()) {
            sys.keep_on_failure();
            std::cerr << "--- pershomed log:\n" << sys.daemon_log();
        }
    }
    std::string device_property(const std::string& name, const std::string& prop) {
        auto proxy = sdbus::createProxy(sys.bus(), bus::kBusName, "/org/pershome1/device/" + name);
        sdbus::Variant v = proxy->getProperty(prop).onInterface(bus::kDeviceInterface);
        if (v.containsValueOfType<bool>()) return v.get<bool>() ? "true" : "false";
        return v.get<std::string>();
    }
    sdbus::ObjectPath attach(const std::string& name, const std::string& backend) {
        auto proxy = sdbus::createProxy(sys.bus(), bus::kBusName, bus::kManagerPath);
        sdbus::ObjectPath path;
        proxy->callMethod("AttachDevice")
            .onInterface(bus::kManagerInterface)
            .withArguments(name, backend, source_.string(), std::string("TERMINAL"))
            .storeResultsTo(path);
        return path;
    }

    PershomeSystem sys;
    fs::path source_;
};

TEST_F(RemoteStick, AttachedStickBecomesTheHomeAndIsReleasedAtLogout) {
    EXPECT_EQ(attach("term07-sdb1", "bindfs"), "/org/pershome1/device/term07_2dsdb1");
    ASSERT_TRUE(eventually([&] { return device_property("term07_2dsdb1", "HasHome") == "true"; }))
        << sys.daemon_log();
    EXPECT_EQ(device_property("term07_2dsdb1", "FsType"), "remote");

    auto login = sys.login("patron3");
    ASSERT_EQ(login->open_rc, kPamSuccess) << login->open_text;
    EXPECT_NE(login->open_text.find("info: Your home is on the stick TERMINAL (term07-sdb1)"),
              std::string::npos)
        << login->open_text;
    const fs::path home = sys.home("patron3");
    EXPECT_EQ(mount_type_at(home), "fuse.pershome-fs");
    // pershome-fs got the folder pershomed checked as an fd; mountinfo
    // still names it for the admin.
    EXPECT_EQ(mount_at(home).second,
              (sys.state_dir() / "sticks" / "term07_2dsdb1" / "pershome").string());
    EXPECT_EQ(device_property("term07_2dsdb1", "State"), "in-use");
    int status = -1;
    login->run("echo 'remote draft' > 'Report: draft 1?.txt' && ls", &status);
    EXPECT_EQ(status, 0);
    // The user sees the name; the stick holds a name FAT can carry.
    EXPECT_TRUE(fs::exists(home / "Report: draft 1?.txt"));
    EXPECT_EQ(login->close(), kPamSuccess);

    EXPECT_TRUE(eventually(
        [&] { return device_property("term07_2dsdb1", "State") == "safe-to-remove"; }, 30))
        << sys.daemon_log();
    EXPECT_EQ(mount_type_at(home), "");
    EXPECT_FALSE(fs::exists(home)) << "the mount point pershomed made stays";
    EXPECT_EQ(mount_type_at(sys.state_dir() / "sticks" / "term07_2dsdb1"), "");
    bool found = false;
    for (const auto& e : fs::directory_iterator(source_ / "pershome"))
        found |= e.path().filename().string().find("Report") != std::string::npos;
    EXPECT_TRUE(found) << "the file is on the stick";

    // The same user again: everything is back.
    auto again = sys.login("patron3");
    ASSERT_EQ(again->open_rc, kPamSuccess) << again->open_text;
    EXPECT_NE(again->open_text.find("last used by patron3 on "), std::string::npos)
        << again->open_text;
    EXPECT_EQ(again->run("cat 'Report: draft 1?.txt'"), "remote draft\n");
    EXPECT_EQ(again->close(), kPamSuccess);
    EXPECT_TRUE(eventually(
        [&] { return device_property("term07_2dsdb1", "State") == "safe-to-remove"; }, 30));

    auto proxy = sdbus::createProxy(sys.bus(), bus::kBusName, bus::kManagerPath);
    proxy->callMethod("DetachDevice")
        .onInterface(bus::kManagerInterface)
        .withArguments(std::string("term07-sdb1"));
    EXPECT_THROW(device_property("term07_2dsdb1", "State"), sdbus::Error);
}

// pam_mount's known failure: a process of the user that writes after the
// home was unmounted writes into the directory under the mount point, and
// the file is silently not on the stick. The mount point pershomed makes is
// root's and 0755: such a write fails. Seen through a non-recursive bind of
// the tmphome root, which shows what lies under the mount.
TEST_F(RemoteStick, TheBareMountPointIsNotWritableByTheUser) {
    attach("term08-sdb1", "bindfs");
    ASSERT_TRUE(eventually([&] { return device_property("term08_2dsdb1", "HasHome") == "true"; }))
        << sys.daemon_log();
    auto login = sys.login("patron3");
    ASSERT_EQ(login->open_rc, kPamSuccess) << login->open_text;
    const fs::path under = sys.dir() / "under";
    fs::create_directory(under);
    ASSERT_EQ(mount(sys.tmphome().c_str(), under.c_str(), nullptr, MS_BIND, nullptr), 0);
    struct stat st {};
    ASSERT_EQ(lstat((under / "patron3").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_mode & 07777, 0755u);
    int status = 0;
    const std::string out =
        login->run("echo late > " + (under / "patron3" / "late.txt").string() + " 2>&1", &status);
    EXPECT_NE(status, 0);
    EXPECT_NE(out.find("Permission denied"), std::string::npos) << out;
    EXPECT_FALSE(fs::exists(under / "patron3" / "late.txt"));
    umount2(under.c_str(), MNT_DETACH);
    EXPECT_EQ(login->close(), kPamSuccess);
}

// A temporary home left by a crashed session, where the stick's home is to
// be mounted: mounted over, it would hide there and take the user's writes
// after logout. It is removed first and the mount point made afresh.
TEST_F(RemoteStick, ALeftoverTemporaryHomeIsRemovedBeforeTheStickIsMounted) {
    const fs::path home = sys.home("patron13");
    fs::create_directory(home);
    write_file(home / "old.txt", "from a crashed session\n");
    for (const auto& p : {home, home / "old.txt"})
        ASSERT_EQ(chown(p.c_str(), sys.uid_of("patron13"), sys.uid_of("patron13")), 0);
    attach("term09-sdb1", "bindfs");
    ASSERT_TRUE(eventually([&] { return device_property("term09_2dsdb1", "HasHome") == "true"; }))
        << sys.daemon_log();
    auto login = sys.login("patron13");
    ASSERT_EQ(login->open_rc, kPamSuccess) << login->open_text;
    EXPECT_EQ(mount_type_at(home), "fuse.pershome-fs");
    const fs::path under = sys.dir() / "under";
    fs::create_directory(under);
    ASSERT_EQ(mount(sys.tmphome().c_str(), under.c_str(), nullptr, MS_BIND, nullptr), 0);
    struct stat st {};
    ASSERT_EQ(lstat((under / "patron13").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u) << "the leftover was mounted over";
    EXPECT_FALSE(fs::exists(under / "patron13" / "old.txt"));
    umount2(under.c_str(), MNT_DETACH);
    EXPECT_EQ(login->close(), kPamSuccess);
    EXPECT_TRUE(eventually([&] { return !fs::exists(home); }, 30)) << sys.daemon_log();
}

// An admin's tools (pershomectl terminate and eject): a stick that holds a
// home is refused with Busy; TerminateUser ends that session as a logout
// would (the stick written back and unmounted); then Eject detaches it.
TEST_F(RemoteStick, EjectIsRefusedWhileAHomeIsOnItAndTerminateEndsThatSession) {
    attach("term10-sdb1", "bindfs");
    ASSERT_TRUE(eventually([&] { return device_property("term10_2dsdb1", "HasHome") == "true"; }))
        << sys.daemon_log();
    auto login = sys.login("patron14");
    ASSERT_EQ(login->open_rc, kPamSuccess) << login->open_text;
    login->run("echo kept > letter.txt");
    auto device =
        sdbus::createProxy(sys.bus(), bus::kBusName, "/org/pershome1/device/term10_2dsdb1");
    try {
        std::string message;
        device->callMethod("Eject").onInterface(bus::kDeviceInterface).storeResultsTo(message);
        ADD_FAILURE() << "Eject of a stick in use answered: " << message;
    } catch (const sdbus::Error& e) {
        EXPECT_EQ(e.getName(), bus::kErrorBusy);
        EXPECT_NE(e.getMessage().find("is in use by patron14"), std::string::npos)
            << e.getMessage();
    }
    auto manager = sdbus::createProxy(sys.bus(), bus::kBusName, bus::kManagerPath);
    std::string note;
    manager->callMethod("TerminateUser")
        .onInterface(bus::kManagerInterface)
        .withTimeout(std::chrono::seconds(60))
        .withArguments(std::string("patron14"))
        .storeResultsTo(note);
    EXPECT_FALSE(sys.session_references("patron14").has_value());
    EXPECT_EQ(device_property("term10_2dsdb1", "State"), "safe-to-remove");
    EXPECT_EQ(mount_type_at(sys.home("patron14")), "");
    bool kept = false;
    for (const auto& e : fs::directory_iterator(source_ / "pershome"))
        kept |= e.path().filename() == "letter.txt";
    EXPECT_TRUE(kept) << "the file written before the terminate is on the stick";
    std::string message;
    device->callMethod("Eject").onInterface(bus::kDeviceInterface).storeResultsTo(message);
    EXPECT_EQ(message, "The remote stick TERMINAL (term10-sdb1) is detached.");
    EXPECT_TRUE(eventually([&] {
        try {
            device_property("term10_2dsdb1", "State");
            return false;
        } catch (const sdbus::Error&) {
            return true;
        }
    }));
    login->close();  // its reference is gone: CloseSession answers NoSuchSession
    EXPECT_THROW(manager->callMethod("TerminateUser")
                     .onInterface(bus::kManagerInterface)
                     .withArguments(std::string("patron14")),
                 sdbus::Error);
}

TEST_F(RemoteStick, UnknownBackendAndBadNamesAreRefusedByName) {
    try {
        attach("term07-sdb1", "ltspfs");
        FAIL() << "an unknown backend was accepted";
    } catch (const sdbus::Error& e) {
        EXPECT_EQ(e.getName(), bus::kErrorInvalidArgument);
        EXPECT_NE(e.getMessage().find("no stick backend ltspfs"), std::string::npos)
            << e.getMessage();
    }
    EXPECT_THROW(attach("../etc", "bindfs"), sdbus::Error);
    EXPECT_THROW(attach("", "bindfs"), sdbus::Error);
}

TEST_F(RemoteStick, FailingBackendLeavesTheDeviceFailedAndTheLoginFallsBack) {
    fs::remove_all(source_);  // bindfs refuses a missing source
    attach("gone-sdb1", "bindfs");
    ASSERT_TRUE(eventually([&] { return device_property("gone_2dsdb1", "State") == "failed"; }))
        << sys.daemon_log();
    EXPECT_NE(device_property("gone_2dsdb1", "Error").find("bindfs exit status"),
              std::string::npos);
    auto login = sys.login("patron4");
    ASSERT_EQ(login->open_rc, kPamSuccess) << login->open_text;
    EXPECT_NE(login->open_text.find("is temporary"), std::string::npos) << login->open_text;
    EXPECT_EQ(login->close(), kPamSuccess);
}

// systemctl restart and kill -9 of pershomed under an open session on a
// remote stick: the home keeps working while the daemon is away, the
// restarted daemon knows the stick (no udev would tell it) and the session,
// and the logout tears everything down.
TEST_F(RemoteStick, DaemonRestartsUnderAnOpenSession) {
    attach("term07-sdb1", "bindfs");
    ASSERT_TRUE(eventually([&] { return device_property("term07_2dsdb1", "HasHome") == "true"; }));
    auto login = sys.login("patron5");
    ASSERT_EQ(login->open_rc, kPamSuccess) << login->open_text;
    for (int signo : {SIGTERM, SIGKILL}) {
        sys.kill_daemon(signo);
        int status = -1;
        login->run("echo during-restart >> notes.txt", &status);
        EXPECT_EQ(status, 0) << "the home stopped working without the daemon";
        sys.start_daemon();
        EXPECT_EQ(device_property("term07_2dsdb1", "State"), "in-use") << sys.daemon_log();
        EXPECT_EQ(sys.session_property_string("patron5", "Mode"), "persistent");
    }
    EXPECT_EQ(login->run("cat notes.txt"), "during-restart\nduring-restart\n");
    EXPECT_EQ(login->close(), kPamSuccess);
    EXPECT_TRUE(eventually(
        [&] { return device_property("term07_2dsdb1", "State") == "safe-to-remove"; }, 30))
        << sys.daemon_log();
    EXPECT_EQ(mount_type_at(sys.home("patron5")), "");
    EXPECT_EQ(mount_type_at(sys.state_dir() / "sticks" / "term07_2dsdb1"), "");
}

// A record left by a daemon of an earlier boot (the state dir survived, its
// mounts did not) names a pershome-fs pid that now belongs to another
// process: the daemon must neither signal nor wait for it, and ends the
// session cleanly.
TEST_F(RemoteStick, StaleRecordAfterRebootSignalsNoStranger) {
    sys.kill_daemon(SIGTERM);
    Child stranger;
    stranger.start({"/bin/sleep", "60"}, {}, sys.dir() / "stranger.log");
    const std::string record =
        R"({"version": 1, "user": "patron6", "uid": )" + std::to_string(sys.uid_of("patron6")) +
        R"(, "gid": )" + std::to_string(sys.uid_of("patron6")) +
        R"(, "mode": "persistent", "home": ")" + sys.home("patron6").string() +
        R"(", "tmphome_root": "", "state": "active", "opened_usec": 1,
        "references": ["0123456789abcdef0123456789abcdef"], "device": "sdz1",
        "devnode": "/dev/sdz1", "stick_dir": ")" +
        (sys.state_dir() / "sticks" / "sdz1").string() + R"(", "fs_pid": )" +
        std::to_string(stranger.pid()) + R"(, "made_mount_point": true, "degraded": false})";
    write_file(sys.state_dir() / "sessions" / "patron6.json", record);
    sys.start_daemon();
    EXPECT_TRUE(eventually([&] { return !sys.session_references("patron6").has_value(); }, 30))
        << sys.daemon_log();
    EXPECT_EQ(stranger.wait(Clock::now() + std::chrono::milliseconds(10)), -1)
        << "pershomed signalled a process that is not its pershome-fs";
    EXPECT_NE(sys.daemon_log().find("is no longer running"), std::string::npos) << sys.daemon_log();
    EXPECT_FALSE(fs::exists(sys.state_dir() / "sessions" / "patron6.json"));
    stranger.kill_and_reap();
}

// A login right after a stick appeared, while it is still being probed (the
// "slow" backend takes 1.5 s to mount): it waits for the probe, up to
// stick_settle_ms, instead of saying that no stick is there.
TEST_F(RemoteStick, LoginWaitsForAStickStillBeingProbed) {
    attach("slow-sdb1", "slow");
    auto login = sys.login("patron7");
    ASSERT_EQ(login->open_rc, kPamSuccess) << login->open_text;
    EXPECT_NE(login->open_text.find("info: Your home is on the stick TERMINAL (slow-sdb1)"),
              std::string::npos)
        << login->open_text << sys.daemon_log();
    EXPECT_EQ(login->close(), kPamSuccess);
}

// The same with no time to wait: the login goes on at once with a
// temporary home and says why (the control for the test above).
class RemoteStickNoSettle : public RemoteStick {
    std::string extra_config() const override { return ",\n  \"stick_settle_ms\": 0"; }
};

TEST_F(RemoteStickNoSettle, LoginDoesNotWaitWithoutSettleTime) {
    attach("slow-sdb1", "slow");
    auto login = sys.login("patron8");
    ASSERT_EQ(login->open_rc, kPamSuccess) << login->open_text;
    EXPECT_NE(login->open_text.find("is temporary"), std::string::npos) << login->open_text;
    EXPECT_EQ(login->close(), kPamSuccess);
}

// Two logins of one user share one mount; the home goes at the last logout.
TEST_F(RemoteStick, TwoLoginsOfOneUserShareOneMount) {
    attach("term07-sdb1", "bindfs");
    ASSERT_TRUE(eventually([&] { return device_property("term07_2dsdb1", "HasHome") == "true"; }));
    auto first = sys.login("patron9");
    ASSERT_EQ(first->open_rc, kPamSuccess) << first->open_text;
    auto second = sys.login("patron9", "login");
    ASSERT_EQ(second->open_rc, kPamSuccess) << second->open_text;
    EXPECT_NE(second->open_text.find("info: Your home is on the stick TERMINAL (term07-sdb1)."),
              std::string::npos)
        << second->open_text;
    EXPECT_EQ(sys.session_references("patron9"), 2u);
    first->run("echo one > shared.txt");
    EXPECT_EQ(second->run("cat shared.txt"), "one\n");
    std::ifstream mi("/proc/self/mountinfo");
    int mounts = 0;
    for (std::string line; std::getline(mi, line);)
        mounts += line.find(" " + sys.home("patron9").string() + " ") != std::string::npos;
    EXPECT_EQ(mounts, 1) << "one pershome-fs mount for both logins";
    EXPECT_EQ(first->close(), kPamSuccess);
    EXPECT_EQ(mount_type_at(sys.home("patron9")), "fuse.pershome-fs") << "gone with one login left";
    EXPECT_EQ(second->run("cat shared.txt"), "one\n");
    EXPECT_EQ(second->close(), kPamSuccess);
    EXPECT_TRUE(eventually(
        [&] { return device_property("term07_2dsdb1", "State") == "safe-to-remove"; }, 30));
    EXPECT_EQ(mount_type_at(sys.home("patron9")), "");
}

// stick=label: picks among the plugged sticks; one that matches no stick is
// told which sticks there are, and the fallback applies.
TEST_F(RemoteStick, StickSelectorByLabel) {
    write_file(sys.dir() / "persistent_homes", "patron10 stick=label:joseph\n*\n");
    fs::create_directories(sys.dir() / "second-stick" / "pershome");
    auto proxy = sdbus::createProxy(sys.bus(), bus::kBusName, bus::kManagerPath);
    sdbus::ObjectPath path;
    proxy->callMethod("AttachDevice")
        .onInterface(bus::kManagerInterface)
        .withArguments(std::string("a-first"), std::string("bindfs"),
                       (sys.dir() / "second-stick").string(), std::string("OTHER"))
        .storeResultsTo(path);
    ASSERT_TRUE(eventually([&] { return device_property("a_2dfirst", "HasHome") == "true"; }));
    auto miss = sys.login("patron10");
    ASSERT_EQ(miss->open_rc, kPamSuccess) << miss->open_text;
    EXPECT_NE(miss->open_text.find("No plugged stick is label:joseph (your persistent home "
                                   "setting); plugged: OTHER (a-first)."),
              std::string::npos)
        << miss->open_text;
    EXPECT_NE(miss->open_text.find("is temporary"), std::string::npos);
    EXPECT_EQ(miss->close(), kPamSuccess);
    ASSERT_TRUE(eventually([&] { return !sys.session_references("patron10").has_value(); }));

    proxy->callMethod("AttachDevice")
        .onInterface(bus::kManagerInterface)
        .withArguments(std::string("b-second"), std::string("bindfs"), source_.string(),
                       std::string("JOSEPH"))
        .storeResultsTo(path);
    ASSERT_TRUE(eventually([&] { return device_property("b_2dsecond", "HasHome") == "true"; }));
    auto hit = sys.login("patron10");
    ASSERT_EQ(hit->open_rc, kPamSuccess) << hit->open_text;
    // Labels compare without case: JOSEPH is label:joseph, though a-first comes first by name.
    EXPECT_NE(hit->open_text.find("info: Your home is on the stick JOSEPH (b-second)"),
              std::string::npos)
        << hit->open_text;
    EXPECT_EQ(device_property("a_2dfirst", "State"), "idle");
    EXPECT_EQ(hit->close(), kPamSuccess);
}

// A backend that hangs is killed at mount_timeout_sec: the device is failed
// with the reason, nothing stays mounted, and logins go on.
class RemoteStickHanging : public RemoteStick {
    std::string extra_config() const override { return ",\n  \"mount_timeout_sec\": 1"; }
};

// A login waits timeout= seconds (here 5) for its answer, but a stick's
// repair or mount may take up to fsck_timeout_sec / mount_timeout_sec (60 /
// 30 by default). The daemon cuts them to what the login still waits, so the
// user gets the sentence and the fallback instead of a PAM timeout.
TEST_F(RemoteStick, AMountThatHangsIsCutToTheLoginsTimeout) {
    attach("slow-sdb1", "hang-at-login");
    ASSERT_TRUE(eventually([&] { return device_property("slow_2dsdb1", "HasHome") == "true"; }))
        << sys.daemon_log();
    sys.service("patient5", "tmphome=" + sys.tmphome().string() + "/ skel=" + sys.skel().string() +
                                "/ timeout=5");
    const auto t0 = Clock::now();
    auto login = sys.login("patron12", "patient5");
    const auto waited = Clock::now() - t0;
    ASSERT_EQ(login->open_rc, kPamSuccess) << login->open_text << sys.daemon_log();
    EXPECT_LT(waited, std::chrono::seconds(5));
    EXPECT_NE(login->open_text.find("could not be opened: sh did not finish before its deadline"),
              std::string::npos)
        << login->open_text;
    EXPECT_NE(login->open_text.find("is temporary"), std::string::npos) << login->open_text;
    EXPECT_EQ(login->close(), kPamSuccess);
    EXPECT_EQ(mount_type_at(sys.state_dir() / "sticks" / "slow_2dsdb1"), "");
}

TEST_F(RemoteStickHanging, HangingBackendIsKilledAtItsDeadline) {
    const auto t0 = Clock::now();
    attach("hang-sdb1", "hang");
    ASSERT_TRUE(eventually([&] { return device_property("hang_2dsdb1", "State") == "failed"; }, 20))
        << sys.daemon_log();
    EXPECT_LT(Clock::now() - t0, std::chrono::seconds(10));
    EXPECT_NE(device_property("hang_2dsdb1", "Error").find("did not finish before its deadline"),
              std::string::npos)
        << device_property("hang_2dsdb1", "Error");
    auto login = sys.login("patron11");
    ASSERT_EQ(login->open_rc, kPamSuccess) << login->open_text;
    EXPECT_NE(login->open_text.find("info: The stick TERMINAL (hang-sdb1) cannot be used: sh did "
                                    "not finish before its deadline and was killed."),
              std::string::npos)
        << login->open_text;
    EXPECT_NE(login->open_text.find("is temporary"), std::string::npos) << login->open_text;
    EXPECT_EQ(login->close(), kPamSuccess);
    EXPECT_EQ(mount_type_at(sys.state_dir() / "sticks" / "probe-hang_2dsdb1"), "");
}

}  // namespace
}  // namespace pershome::test
