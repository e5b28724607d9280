// pershomectl -H, end to end: the real ssh client, a real ssh server
// (dropbear, which runs without a service or /etc changes) on a private
// port, the real systemd-stdio-bridge and pershomed on a private system bus,
// as an admin checks a lab client from the LTSP server.
// Stand-ins, all inside this test's private mount namespace: the server
// finds its login user through nss_wrapper, and the client's ssh_config is
// a temp file bound over /etc/ssh/ssh_config (a throwaway key, no host-key
// prompt); the server's forced command names the private bus, where a
// client's sshd would run the bridge on the system bus.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "common/unique_fd.hpp"
#include "tests/ctl/run_ctl.hpp"
#include "tests/integration/pershome_system.hpp"

namespace pershome::test {
namespace {

using nlohmann::json;

constexpr int kPamSuccess = 0;
constexpr uid_t kAdminUid = 65534;  // a real uid the shipped bus policy treats as anyone

// A port nobody listens on now: bound, read and let go. Another program
// could take it before the server does; the server then fails to start and
// the test says so.
int free_port() {
    UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (!s || ::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
        return -1;
    return ntohs(a.sin_port);
}

bool accepts(int port) {
    UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    return s && ::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

class CtlRemote : public ::testing::Test {
  protected:
    void SetUp() override {
        for (const char* p : {"/usr/sbin/dropbear", "/usr/bin/dropbearkey", "/usr/bin/ssh",
                              "/usr/bin/ssh-keygen", "/usr/bin/systemd-stdio-bridge"}) {
            if (::access(p, X_OK) != 0) GTEST_SKIP() << p << " is not installed";
        }
        if (::access("/etc/ssh/ssh_config", F_OK) != 0) GTEST_SKIP() << "no /etc/ssh/ssh_config";
        sys.start_daemon();
        start_server();
    }
    void TearDown() override {
        if (HasFailure()) {
            sys.keep_on_failure();
            server.read_until(Clock::now());
            std::cerr << "--- dropbear:\n"
                      << server.err_text << "--- pershomed log:\n"
                      << sys.daemon_log();
        }
    }

    // The admin's key, the server's host key and its login user, whose
    // authorized_keys the server checks as sshd would (owner and modes).
    void start_server() {
        const fs::path ssh = sys.dir() / "ssh";
        const fs::path home = sys.dir() / "admin";
        fs::create_directories(home / ".ssh");
        fs::create_directory(ssh);
        ASSERT_EQ(run_shell("ssh-keygen -q -t ed25519 -N '' -f " + (ssh / "id").string() +
                            " && dropbearkey -t ed25519 -f " + (ssh / "host").string() +
                            " >/dev/null && cp " + (ssh / "id.pub").string() + " " +
                            (home / ".ssh/authorized_keys").string() + " && chmod 700 " +
                            (home / ".ssh").string() + " && chown -R " + std::to_string(kAdminUid) +
                            ":" + std::to_string(kAdminUid) + " " + home.string()),
                  0);
        write_file(ssh / "passwd",
                   "root:x:0:0:root:/root:/bin/sh\nadmin:x:" + std::to_string(kAdminUid) + ":" +
                       std::to_string(kAdminUid) + "::" + home.string() + ":/bin/sh\n");
        write_file(ssh / "group", "root:x:0:\nadmin:x:" + std::to_string(kAdminUid) + ":\n");
        write_file(ssh / "ssh_config", "Host *\n  IdentityFile " + (ssh / "id").string() +
                                           "\n  IdentitiesOnly yes\n  BatchMode yes\n"
                                           "  StrictHostKeyChecking no\n"
                                           "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n");
        ASSERT_EQ(
            ::mount((ssh / "ssh_config").c_str(), "/etc/ssh/ssh_config", nullptr, MS_BIND, nullptr),
            0)
            << "bind over /etc/ssh/ssh_config: " << strerror(errno);

        port = free_port();
        ASSERT_GT(port, 0);
        server.start({"/usr/sbin/dropbear", "-F", "-E", "-s", "-w", "-m", "-p",
                      "127.0.0.1:" + std::to_string(port), "-r", (ssh / "host").string(), "-P",
                      (ssh / "pid").string(), "-c",
                      "/usr/bin/systemd-stdio-bridge --bus-path=" +
                          std::string(getenv("DBUS_SYSTEM_BUS_ADDRESS"))},
                     {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LD_PRELOAD=libnss_wrapper.so",
                      "NSS_WRAPPER_PASSWD=" + (ssh / "passwd").string(),
                      "NSS_WRAPPER_GROUP=" + (ssh / "group").string()});
        ASSERT_TRUE(eventually([&] { return accepts(port); }, 10))
            << "dropbear did not listen on " << port;
    }

    // pershomectl with no bus in its environment: all it knows is -H.
    CtlRun remote(std::vector<std::string> args) {
        args.insert(args.begin(), {"-H", "admin@127.0.0.1:" + std::to_string(port)});
        return run_ctl(args);
    }

    PershomeSystem sys;
    Child server;
    int port = -1;
};

TEST_F(CtlRemote, AnAdminSeesAClientsSessionsThroughSsh) {
    auto login = sys.login("patron1");
    ASSERT_EQ(login->open_rc, kPamSuccess) << login->open_text;

    auto status = remote({"status"});
    ASSERT_EQ(status.status, 0) << status.err;
    EXPECT_EQ(
        status.out.substr(0, status.out.find('\n')),
        "pershomed 0.1.0 on admin@127.0.0.1:" + std::to_string(port) + ": 1 session, 0 sticks.")
        << status.out;

    auto sessions = json::parse(remote({"sessions", "--json"}).out, nullptr, false);
    ASSERT_TRUE(sessions.is_array() && sessions.size() == 1) << sessions;
    EXPECT_EQ(sessions[0]["user"], "patron1");
    EXPECT_EQ(sessions[0]["mode"], "tmphome");
    EXPECT_EQ(sessions[0]["home"], sys.home("patron1").string());
    EXPECT_EQ(json::parse(remote({"--json", "status"}).out, nullptr, false)["host"],
              "admin@127.0.0.1:" + std::to_string(port));

    // The bridge runs as the ssh user, so the daemon's policy applies to it:
    // looking works, acting is root's.
    auto refused = remote({"terminate", "patron1"});
    EXPECT_EQ(refused.status, 1) << refused.err;
    EXPECT_NE(refused.err.find("permission denied, only root may do this"), std::string::npos)
        << refused.err;
    EXPECT_EQ(sys.session_references("patron1"), 1u);
    EXPECT_EQ(login->close(), kPamSuccess);
}

TEST_F(CtlRemote, AKeyTheServerDoesNotKnowIsAClearUnreachableError) {
    fs::remove(sys.dir() / "admin" / ".ssh" / "authorized_keys");
    auto status = remote({"status"});
    EXPECT_EQ(status.status, 3) << status.err;
    EXPECT_NE(status.err.find("cannot reach pershomed on admin@127.0.0.1:" + std::to_string(port) +
                              " through ssh"),
              std::string::npos)
        << status.err;
}

}  // namespace
}  // namespace pershome::test
