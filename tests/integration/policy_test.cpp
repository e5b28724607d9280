// The shipped D-Bus policy (systemd/org.pershome1.conf) on a private bus with
// the system bus's default policy: anyone may look, only root may act.
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/bus_names.hpp"
#include "tests/integration/pershome_system.hpp"

namespace pershome::test {
namespace {

// Runs FN in a child that has dropped to uid/gid 65534 (nobody) with its own
// bus connection; returns FN's result as the child's exit code.
int as_nobody(const std::function<int()>& fn) {
    fflush(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        if (setgroups(0, nullptr) < 0 || setgid(65534) < 0 || setuid(65534) < 0) _exit(100);
        int rc = 101;
        try {
            rc = fn();
        } catch (...) {
        }
        _exit(rc);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
}

// The D-Bus error name an OpenSession call gets, or "" if it went through.
std::string open_session_error(sdbus::IProxy& manager) {
    try {
        std::map<std::string, sdbus::Variant> options;
        options["tmphome"] = sdbus::Variant(std::string("/tmp"));
        manager.callMethod("OpenSession")
            .onInterface(bus::kManagerInterface)
            .withArguments(std::string("patron1"), options);
        return "";
    } catch (const sdbus::Error& e) {
        return e.getName();
    }
}

class PolicyTest : public ::testing::Test {
  protected:
    void SetUp() override { sys.start_daemon(); }
    PershomeSystem sys;
};

TEST_F(PolicyTest, NonRootCannotOpenOrCloseSessions) {
    int rc = as_nobody([] {
        auto conn = sdbus::createSystemBusConnection();
        auto proxy = sdbus::createProxy(*conn, bus::kBusName, bus::kManagerPath);
        std::string error = open_session_error(*proxy);
        if (error.empty()) return 1;  // it went through
        if (error != "org.freedesktop.DBus.Error.AccessDenied") return 2;
        try {
            proxy->callMethod("CloseSession")
                .onInterface(bus::kManagerInterface)
                .withArguments(std::string("patron1"), std::string("x"),
                               std::map<std::string, sdbus::Variant>());
            return 3;
        } catch (const sdbus::Error& e) {
            if (e.getName() != "org.freedesktop.DBus.Error.AccessDenied") return 4;
        }
        return 0;
    });
    EXPECT_EQ(rc, 0) << "1/3: a non-root call went through; 2/4: wrong error";
    EXPECT_TRUE(std::filesystem::is_empty(sys.tmphome()));
}

TEST_F(PolicyTest, AnyoneMayReadPropertiesAndIntrospect) {
    auto login = sys.login("patron1");
    ASSERT_EQ(login->open_rc, 0);
    int rc = as_nobody([] {
        auto conn = sdbus::createSystemBusConnection();
        auto manager = sdbus::createProxy(*conn, bus::kBusName, bus::kManagerPath);
        std::string version = manager->getProperty("Version").onInterface(bus::kManagerInterface);
        if (version.empty()) return 1;
        uint32_t count = manager->getProperty("SessionCount").onInterface(bus::kManagerInterface);
        if (count != 1) return 2;
        std::map<sdbus::ObjectPath, std::map<std::string, std::map<std::string, sdbus::Variant>>>
            objects;
        manager->callMethod("GetManagedObjects")
            .onInterface("org.freedesktop.DBus.ObjectManager")
            .storeResultsTo(objects);
        auto it = objects.find(sdbus::ObjectPath("/org/pershome1/session/patron1"));
        if (it == objects.end()) return 3;
        if (it->second.at(bus::kSessionInterface).at("User").get<std::string>() != "patron1")
            return 4;
        std::string xml;
        manager->callMethod("Introspect")
            .onInterface("org.freedesktop.DBus.Introspectable")
            .storeResultsTo(xml);
        if (xml.find("OpenSession") == std::string::npos) return 5;
        return 0;
    });
    EXPECT_EQ(rc, 0);
    login->close();
}

// Defence in depth: with a bus that lets anyone call anything, the daemon
// still refuses a caller who is not root.
TEST(DaemonCallerCheck, RefusesNonRootEvenWhenTheBusPolicyIsOpen) {
    PershomeSystem sys(PrivateBus::Policy::Open);
    sys.start_daemon();
    int rc = as_nobody([] {
        auto conn = sdbus::createSystemBusConnection();
        auto proxy = sdbus::createProxy(*conn, bus::kBusName, bus::kManagerPath);
        std::string error = open_session_error(*proxy);
        if (error.empty()) return 1;
        return error == bus::kErrorPermissionDenied ? 0 : 2;
    });
    EXPECT_EQ(rc, 0) << "1: went through; 2: wrong error";
    EXPECT_TRUE(std::filesystem::is_empty(sys.tmphome()));
    EXPECT_NE(sys.daemon_log().find("refused for uid 65534"), std::string::npos);
}

}  // namespace
}  // namespace pershome::test
