// A remote stick (LTSP5's ltspfs path) on the host, end to end: AttachDevice
// names a mount backend from pershomed.json (bindfs here, a FUSE program
// Debian has, standing in for ltspfs, which Debian 12 does not ship), a login
// through the real PAM stack gets the stick's pershome/ as its home through
// pershome-fs, and the logout undoes both mounts. Inside the test's private
// mount namespace; the source is a plain directory, not a FAT.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "common/bus_names.hpp"
#include "tests/integration/pershome_system.hpp"

namespace pershome::test {
namespace {

constexpr int kPamSuccess = 0;

std::string mount_type_at(const fs::path& p) {
    std::ifstream mi("/proc/self/mountinfo");
    std::string line, type;
    while (std::getline(mi, line)) {
        std::istringstream w(line);
        std::string f[5];
        for (auto& x : f) w >> x;
        if (f[4] != p.string()) continue;
        auto dash = line.find(" - ");
        std::istringstream rest(line.substr(dash + 3));
        rest >> type;
    }
    return type;
}

class RemoteStick : public ::testing::Test {
  protected:
    void SetUp() override {
        if (::access("/usr/bin/bindfs", X_OK) != 0) GTEST_SKIP() << "bindfs is not installed";
        source_ = sys.dir() / "terminal-stick";
        fs::create_directories(source_ / "pershome");
        write_file(sys.dir() / "persistent_homes", "*\n");
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

}  // namespace
}  // namespace pershome::test
