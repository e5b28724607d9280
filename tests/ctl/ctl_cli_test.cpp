// pershomectl's command line and its ways of not reaching pershomed: exit
// codes 2 and 3 with a message naming what is missing.
#include <gtest/gtest.h>

#include "tests/ctl/run_ctl.hpp"
#include "tests/support/private_bus.hpp"
#include "tests/support/temp_dir.hpp"

namespace pershome::test {
namespace {

TEST(CtlCli, HelpForEveryCommandAndUsageErrors) {
    for (const char* cmd :
         {"status", "sessions", "devices", "terminate", "eject", "check", "prepare"}) {
        auto help = run_ctl({cmd, "--help"});
        EXPECT_EQ(help.status, 0) << cmd;
        EXPECT_NE(help.out.find(std::string("Usage: pershomectl ") + cmd), std::string::npos)
            << help.out;
    }
    auto none = run_ctl({});
    EXPECT_EQ(none.status, 2);
    EXPECT_NE(none.err.find("Run pershomectl --help"), std::string::npos) << none.err;
    EXPECT_EQ(run_ctl({"terminate"}).status, 2);
    EXPECT_EQ(run_ctl({"status", "--no-such-option"}).status, 2);
    EXPECT_EQ(run_ctl({"-H", "a@b", "--bus-address", "unix:path=/x", "status"}).status, 2);
}

// No bus at all, then a bus without pershomed on it.
TEST(CtlCli, DaemonNotReachableIsExitThree) {
    TempDir tmp("pershome-ctl", "/var/tmp");
    auto nobus = run_ctl({"--bus-address", "unix:path=" + (tmp / "none").string(), "status"});
    EXPECT_EQ(nobus.status, 3) << nobus.err;
    EXPECT_NE(nobus.err.find("pershomectl: cannot reach pershomed on this machine through the bus "
                             "at unix:path="),
              std::string::npos)
        << nobus.err;

    PrivateBus bus(tmp.path(), PrivateBus::Policy::System);
    auto nodaemon = run_ctl({"sessions"}, {"DBUS_SYSTEM_BUS_ADDRESS=" + bus.address()});
    EXPECT_EQ(nodaemon.status, 3) << nodaemon.err;
    EXPECT_NE(nodaemon.err.find("cannot reach pershomed on this machine through the system bus"),
              std::string::npos)
        << nodaemon.err;
    EXPECT_NE(nodaemon.err.find("org.freedesktop.DBus.Error.ServiceUnknown"), std::string::npos)
        << nodaemon.err;
}

// With no ssh server to answer, pershomectl says it went through ssh to the
// named host (ctl_remote_test.cpp goes all the way through a real one).
TEST(CtlCli, RemoteHostGoesThroughSsh) {
    TempDir home("pershome-ctl", "/var/tmp");
    auto run = run_ctl({"-H", "nobody@127.0.0.1", "status"},
                       {"HOME=" + home.path().string()});  // no known_hosts of the machine's
    EXPECT_EQ(run.status, 3) << run.err;
    EXPECT_NE(run.err.find("cannot reach pershomed on nobody@127.0.0.1 through ssh (ssh -xT "
                           "nobody@127.0.0.1 systemd-stdio-bridge)"),
              std::string::npos)
        << run.err;
}

}  // namespace
}  // namespace pershome::test
