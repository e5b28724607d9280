// What an admin reads about a patron's home: journal entries with structured
// fields, and no log line that a name in the home can forge. journald itself
// cannot run here (no systemd as PID 1), so the test binds the journal's
// socket in its private mount namespace and reads the datagrams that
// sd_journal_send writes to it: exactly what journald would receive.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <map>

#include "common/unique_fd.hpp"
#include "tests/integration/pershome_system.hpp"

namespace pershome::test {
namespace {

constexpr int kPamSuccess = 0;
// A directory name that, written raw to the journal's stream, became a
// priority-1 line of its own claiming to be sshd.
const std::string kForgery = "x\n<1>sshd[1]: Accepted password for root";

using Entry = std::map<std::string, std::string>;

// The journal's native protocol: KEY=value lines, or KEY\n<le64 size>value\n.
Entry parse_datagram(const std::string& d) {
    Entry e;
    size_t pos = 0;
    while (pos < d.size()) {
        const size_t nl = d.find('\n', pos);
        const size_t eq = d.find('=', pos);
        if (eq != std::string::npos && eq < nl) {
            e[d.substr(pos, eq - pos)] = d.substr(eq + 1, nl - eq - 1);
            pos = nl + 1;
            continue;
        }
        const std::string key = d.substr(pos, nl - pos);
        uint64_t size = 0;
        memcpy(&size, d.data() + nl + 1, sizeof size);
        e[key] = d.substr(nl + 1 + 8, size);
        pos = nl + 1 + 8 + size + 1;
    }
    return e;
}

class Journal : public ::testing::Test {
  protected:
    void SetUp() override {
        // Inside the namespace PershomeSystem entered: the machine's own
        // /run/systemd is untouched.
        ASSERT_EQ(mount("tmpfs", "/run/systemd", "tmpfs", 0, "mode=0755"), 0) << strerror(errno);
        fs::create_directory("/run/systemd/journal");
        sock_.reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        strcpy(addr.sun_path, "/run/systemd/journal/socket");
        ASSERT_EQ(bind(sock_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        int big = 8 << 20;
        setsockopt(sock_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
        // What systemd sets for a service whose stderr is the journal.
        sys.daemon_env("JOURNAL_STREAM=8:12345");
        sys.start_daemon();
    }
    void TearDown() override {
        if (HasFailure()) std::cerr << "--- pershomed log:\n" << sys.daemon_log();
    }

    // Every entry received so far, in order.
    const std::vector<Entry>& entries() {
        char buf[65536];
        ssize_t n;
        while ((n = recv(sock_.get(), buf, sizeof buf, 0)) > 0)
            entries_.push_back(parse_datagram(std::string(buf, static_cast<size_t>(n))));
        return entries_;
    }
    const Entry* find(const std::string& operation, const std::string& user) {
        for (const auto& e : entries()) {
            auto op = e.find("PERSHOME_OPERATION");
            auto u = e.find("USER");
            if (op != e.end() && op->second == operation && u != e.end() && u->second == user)
                return &e;
        }
        return nullptr;
    }

    PershomeSystem sys;
    UniqueFd sock_;
    std::vector<Entry> entries_;
};

TEST_F(Journal, EachHomeCreatedAndRemovedIsOneEntryWithItsFields) {
    auto login = sys.login("patron20");
    ASSERT_EQ(login->open_rc, kPamSuccess) << login->open_text;
    ASSERT_TRUE(eventually([&] { return find("create", "patron20") != nullptr; }));
    const Entry created = *find("create", "patron20");
    EXPECT_EQ(created.at("UID"), std::to_string(sys.uid_of("patron20")));
    EXPECT_EQ(created.at("HOME"), sys.home("patron20").string());
    EXPECT_EQ(created.at("PRIORITY"), "5");
    EXPECT_EQ(created.at("SYSLOG_IDENTIFIER"), "pershomed");
    EXPECT_NE(created.at("MESSAGE").find("temporary home"), std::string::npos);

    login->close();
    ASSERT_TRUE(eventually([&] { return find("remove", "patron20") != nullptr; }));
    const Entry removed = *find("remove", "patron20");
    EXPECT_EQ(removed.at("HOME"), sys.home("patron20").string());
    EXPECT_EQ(removed.count("PERSHOME_ERROR"), 0u);
    // Nothing went to the stream meanwhile: the journal took every line.
    EXPECT_EQ(sys.daemon_log().find("removed"), std::string::npos) << sys.daemon_log();
}

TEST_F(Journal, ARefusalNamesTheUserAndTheError) {
    // The test's tmphome root is not among those this daemon allows.
    sys.configure(",\n  \"tmphome_roots\": [\"/srv/tmphome\"]");
    sys.start_daemon();
    auto login = sys.login("patron21");
    EXPECT_NE(login->open_rc, kPamSuccess);
    ASSERT_TRUE(eventually([&] { return find("refuse", "patron21") != nullptr; }));
    const Entry* e = find("refuse", "patron21");
    EXPECT_EQ(e->at("PRIORITY"), "3");
    EXPECT_EQ(e->at("UID"), std::to_string(sys.uid_of("patron21")));
    EXPECT_NE(e->at("PERSHOME_ERROR").find("not among the daemon's configured tmphome_roots"),
              std::string::npos)
        << e->at("PERSHOME_ERROR");
}

// A name in the home reaches the log at logout (here: a mount left inside
// it, which is reported and kept). Its newline must not start a new entry.
TEST_F(Journal, ANameInTheHomeCannotForgeAnEntry) {
    fs::create_directory(sys.dir() / "share");
    auto login = sys.login("patron22");
    ASSERT_EQ(login->open_rc, kPamSuccess);
    const fs::path mnt = sys.home("patron22") / kForgery;
    fs::create_directory(mnt);
    ASSERT_EQ(mount((sys.dir() / "share").c_str(), mnt.c_str(), nullptr, MS_BIND, nullptr), 0);
    login->close();
    ASSERT_TRUE(eventually([&] {
        for (const auto& e : entries())
            if (e.at("MESSAGE").find("Accepted password") != std::string::npos) return true;
        return false;
    }));
    for (const auto& e : entries()) {
        EXPECT_NE(e.at("PRIORITY"), "1") << e.at("MESSAGE");
        EXPECT_EQ(e.at("MESSAGE").find('\n'), std::string::npos) << e.at("MESSAGE");
        if (e.at("MESSAGE").find("Accepted password") != std::string::npos) {
            EXPECT_NE(e.at("MESSAGE").find("x\\x0a<1>sshd[1]"), std::string::npos)
                << e.at("MESSAGE");
        }
    }
    umount2(mnt.c_str(), MNT_DETACH);
}

// Without a journal socket the same lines go to the stream with a "<N>"
// prefix (systemd's stream protocol): one line each, none forged.
TEST(JournalStream, ANameInTheHomeCannotForgeAStreamLine) {
    PershomeSystem sys;
    ASSERT_EQ(mount("tmpfs", "/run/systemd", "tmpfs", 0, "mode=0755"), 0) << strerror(errno);
    sys.daemon_env("JOURNAL_STREAM=8:12345");
    sys.start_daemon();
    fs::create_directory(sys.dir() / "share");
    auto login = sys.login("patron23");
    ASSERT_EQ(login->open_rc, kPamSuccess);
    const fs::path mnt = sys.home("patron23") / kForgery;
    fs::create_directory(mnt);
    ASSERT_EQ(mount((sys.dir() / "share").c_str(), mnt.c_str(), nullptr, MS_BIND, nullptr), 0);
    login->close();
    ASSERT_TRUE(eventually([&] {
        return sys.daemon_log().find("Accepted password") != std::string::npos;
    })) << sys.daemon_log();
    const std::string log = sys.daemon_log();
    EXPECT_EQ(log.find("\n<1>"), std::string::npos) << log;
    EXPECT_NE(log.find("x\\x0a<1>sshd[1]"), std::string::npos) << log;
    umount2(mnt.c_str(), MNT_DETACH);
}

}  // namespace
}  // namespace pershome::test
