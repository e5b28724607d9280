// pershomectl against the real pershomed on a private system bus with the
// shipped policy (tests/integration's PershomeSystem): a live temporary-home
// session through the real PAM stack, and a remote stick attached the way
// LTSP5 attaches one (bindfs standing in for ltspfs, as in
// remote_stick_test.cpp), seen through the tables and the JSON an admin and
// a script would read.
#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <sstream>

#include "common/bus_names.hpp"
#include "tests/ctl/run_ctl.hpp"
#include "tests/integration/pershome_system.hpp"

namespace pershome::test {
namespace {

using nlohmann::json;

constexpr int kPamSuccess = 0;
// A label with a terminal escape in it: it must never reach a terminal raw.
const std::string kLabel = "TERM\x1b[2J07";

class CtlDaemon : public ::testing::Test {
  protected:
    void SetUp() override {
        if (::access("/usr/bin/bindfs", X_OK) != 0) GTEST_SKIP() << "bindfs is not installed";
        fs::create_directories(sys.dir() / "terminal-stick" / "pershome");
        write_file(sys.dir() / "persistent_homes", "patron2\n");
        sys.configure(",\n  \"pershome_fs\": \"" + std::string(PERSHOME_FS_PATH) +
                      "\",\n  \"stick_backends\": {\"bindfs\": [\"bindfs\", \"{source}\", "
                      "\"{mountpoint}\"]},\n  \"logout_grace_sec\": 1");
        sys.start_daemon();
    }
    void TearDown() override {
        if (HasFailure()) {
            sys.keep_on_failure();
            std::cerr << "--- pershomed log:\n" << sys.daemon_log();
        }
    }
    CtlRun ctl(const std::vector<std::string>& args, bool as_nobody = false) {
        return run_ctl(
            args, {"DBUS_SYSTEM_BUS_ADDRESS=" + std::string(getenv("DBUS_SYSTEM_BUS_ADDRESS"))},
            as_nobody);
    }
    void attach_stick() {
        auto proxy = sdbus::createProxy(sys.bus(), bus::kBusName, bus::kManagerPath);
        sdbus::ObjectPath path;
        proxy->callMethod("AttachDevice")
            .onInterface(bus::kManagerInterface)
            .withArguments(std::string("term07-sdb1"), std::string("bindfs"),
                           (sys.dir() / "terminal-stick").string(), kLabel)
            .storeResultsTo(path);
        ASSERT_TRUE(eventually([&] {
            auto j = json::parse(ctl({"devices", "--json"}).out, nullptr, false);
            return j.is_array() && j.size() == 1 && j[0]["has_home"] == true;
        }));
    }
    std::string device_state() {
        auto j = json::parse(ctl({"devices", "--json"}).out, nullptr, false);
        return j.is_array() && j.size() == 1 ? j[0]["state"].get<std::string>() : "";
    }

    PershomeSystem sys;
};

// The cell under HEADER in the row that starts with KEY: read by the
// header's column, so a misaligned table gives a wrong cell.
std::string cell(const std::string& table, const std::string& header, const std::string& key) {
    std::istringstream lines(table);
    std::string head, row;
    std::getline(lines, head);
    while (std::getline(lines, row) && row.rfind(key, 0) != 0) {
    }
    const auto col = head.find(header);
    if (col == std::string::npos || col >= row.size()) return "<no cell: " + table + ">";
    return row.substr(col, row.find("  ", col) - col);
}

TEST_F(CtlDaemon, TablesAndJsonShowALiveSessionAndAStick) {
    attach_stick();
    auto login = sys.login("patron1");
    ASSERT_EQ(login->open_rc, kPamSuccess) << login->open_text;

    auto sessions = ctl({"sessions"});
    ASSERT_EQ(sessions.status, 0) << sessions.err;
    EXPECT_EQ(cell(sessions.out, "UID", "patron1"), "20001");
    EXPECT_EQ(cell(sessions.out, "MODE", "patron1"), "tmphome");
    EXPECT_EQ(cell(sessions.out, "STATE", "patron1"), "active");
    EXPECT_EQ(cell(sessions.out, "LOGINS", "patron1"), "1");
    EXPECT_EQ(cell(sessions.out, "DEVICE", "patron1"), "-");
    EXPECT_EQ(cell(sessions.out, "HOME", "patron1"), sys.home("patron1").string());

    auto js = json::parse(ctl({"sessions", "--json"}).out);
    ASSERT_EQ(js.size(), 1u) << js;
    EXPECT_EQ(js[0]["user"], "patron1");
    EXPECT_EQ(js[0]["uid"], sys.uid_of("patron1"));
    EXPECT_EQ(js[0]["mode"], "tmphome");
    EXPECT_EQ(js[0]["state"], "active");
    EXPECT_EQ(js[0]["home"], sys.home("patron1").string());
    EXPECT_EQ(js[0]["logins"], 1);
    EXPECT_TRUE(js[0]["device"].is_null());
    EXPECT_GT(js[0]["opened_usec"].get<uint64_t>(), 0u);

    auto devices = ctl({"devices"});
    ASSERT_EQ(devices.status, 0) << devices.err;
    EXPECT_EQ(devices.out.find('\x1b'), std::string::npos) << "a raw escape reached the terminal";
    EXPECT_EQ(cell(devices.out, "FS", "term07-sdb1"), "remote");
    EXPECT_EQ(cell(devices.out, "HOME", "term07-sdb1"), "yes");
    EXPECT_EQ(cell(devices.out, "STATE", "term07-sdb1"), "idle");
    EXPECT_EQ(cell(devices.out, "USER", "term07-sdb1"), "-");
    auto jd = json::parse(ctl({"devices", "--json"}).out);
    ASSERT_EQ(jd.size(), 1u) << jd;
    EXPECT_EQ(jd[0]["name"], "term07-sdb1");
    EXPECT_EQ(jd[0]["object"], "/org/pershome1/device/term07_2dsdb1");
    EXPECT_EQ(jd[0]["fs_type"], "remote");
    EXPECT_EQ(jd[0]["has_home"], true);
    auto proxy = sdbus::createProxy(sys.bus(), bus::kBusName, jd[0]["object"].get<std::string>());
    std::string label = proxy->getProperty("Label").onInterface(bus::kDeviceInterface);
    EXPECT_EQ(jd[0]["label"], label) << "the JSON carries the daemon's string exactly";

    auto status = ctl({"status"});
    ASSERT_EQ(status.status, 0) << status.err;
    EXPECT_EQ(status.out.substr(0, status.out.find('\n')),
              "pershomed 0.1.0 on this machine: 1 session, 1 stick.");
    // The same bus named on the command line instead of in the environment.
    auto named = run_ctl({"--bus-address", getenv("DBUS_SYSTEM_BUS_ADDRESS"), "status"});
    EXPECT_EQ(named.out.substr(0, named.out.find('\n')),
              "pershomed 0.1.0 on this machine: 1 session, 1 stick.")
        << named.err;
    auto jstatus = json::parse(ctl({"--json", "status"}).out);
    EXPECT_TRUE(jstatus["host"].is_null());
    EXPECT_EQ(jstatus["version"], "0.1.0");
    EXPECT_EQ(jstatus["sessions"].size(), 1u);
    EXPECT_EQ(jstatus["devices"].size(), 1u);
    EXPECT_EQ(login->close(), kPamSuccess);
}

TEST_F(CtlDaemon, EjectRefusesAStickInUseAndDetachesItWhenFree) {
    attach_stick();
    auto login = sys.login("patron2");
    ASSERT_EQ(login->open_rc, kPamSuccess) << login->open_text;
    ASSERT_EQ(device_state(), "in-use");
    auto busy = ctl({"eject", "term07-sdb1"});
    EXPECT_EQ(busy.status, 1);
    // The label holds an escape sequence: shown escaped, never raw.
    EXPECT_NE(busy.err.find("pershomectl: eject term07-sdb1: the stick TERM\\x1b[2J07 "
                            "(term07-sdb1) is in use by patron2: end that session first"),
              std::string::npos)
        << busy.err;
    // The home is pershome-fs's mount now: check wants the stick at rest.
    auto check = ctl({"check", sys.home("patron2").string()});
    EXPECT_EQ(check.status, 1);
    EXPECT_NE(check.err.find("this is a home in use (mounted by pershome-fs)"), std::string::npos)
        << check.err;
    auto sessions = json::parse(ctl({"sessions", "--json"}).out);
    ASSERT_EQ(sessions.size(), 1u);
    EXPECT_EQ(sessions[0]["mode"], "persistent");
    EXPECT_EQ(sessions[0]["device"], "term07-sdb1");

    EXPECT_EQ(login->close(), kPamSuccess);
    ASSERT_TRUE(eventually([&] { return device_state() == "safe-to-remove"; }, 30));
    auto eject = ctl({"eject", "term07-sdb1"});
    EXPECT_EQ(eject.status, 0) << eject.err;
    EXPECT_EQ(ctl({"devices"}).out, "No sticks.\n");
}

TEST_F(CtlDaemon, NonRootMayLookButNotAct) {
    attach_stick();
    auto login = sys.login("patron1");
    ASSERT_EQ(login->open_rc, kPamSuccess) << login->open_text;
    auto look = ctl({"sessions"}, true);
    EXPECT_EQ(look.status, 0) << look.err;
    EXPECT_NE(look.out.find("patron1"), std::string::npos);
    for (const auto& args : std::vector<std::vector<std::string>>{{"eject", "term07-sdb1"},
                                                                  {"terminate", "patron1"}}) {
        auto refused = ctl(args, true);
        EXPECT_EQ(refused.status, 1) << refused.err;
        EXPECT_NE(refused.err.find("pershomectl: " + args[0] + " " + args[1] +
                                   ": permission denied, only root may do this"),
                  std::string::npos)
            << refused.err;
        EXPECT_NE(refused.err.find("(org.freedesktop.DBus.Error.AccessDenied)"), std::string::npos)
            << refused.err;
    }
    EXPECT_EQ(device_state(), "idle");
    EXPECT_EQ(sys.session_references("patron1"), 1u);
    EXPECT_EQ(login->close(), kPamSuccess);
}

TEST_F(CtlDaemon, TerminateEndsTheSessionAndItsHome) {
    auto login = sys.login("patron3");
    ASSERT_EQ(login->open_rc, kPamSuccess) << login->open_text;
    ASSERT_TRUE(fs::exists(sys.home("patron3")));
    auto nobody = ctl({"terminate", "patron4"});
    EXPECT_EQ(nobody.status, 1);
    EXPECT_NE(nobody.err.find("no session of patron4 on this machine"), std::string::npos)
        << nobody.err;

    auto run = ctl({"terminate", "patron3"});
    EXPECT_EQ(run.status, 0) << run.err;
    EXPECT_TRUE(eventually([&] { return !fs::exists(sys.home("patron3")); }, 30));
    EXPECT_EQ(ctl({"sessions"}).out, "No sessions.\n");
}

}  // namespace
}  // namespace pershome::test
