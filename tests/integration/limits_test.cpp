// Limits: every open login holds one fd in the daemon. One account's
// thousands of logins (a script, a service that opens PAM sessions in a
// loop) must be refused with a sentence, and never break another user's
// login or logout. The logins here are OpenSession calls made as root on the
// bus, as pam_pershome makes them, so that hundreds take a second.
#include <gtest/gtest.h>

#include "common/bus_names.hpp"
#include "tests/integration/pershome_system.hpp"

namespace pershome::test {
namespace {

constexpr int kPamSuccess = 0;
constexpr int kPamSessionErr = 14;

struct Opened {
    std::vector<sdbus::UnixFd> references;
    std::vector<std::string> refusals;
};

Opened open_many(PershomeSystem& sys, const std::string& user, int count) {
    auto proxy = sdbus::createProxy(sys.bus(), bus::kBusName, bus::kManagerPath);
    Opened out;
    for (int i = 0; i < count; ++i) {
        try {
            sdbus::ObjectPath path;
            std::string mode, home, reference, message;
            sdbus::UnixFd fd;
            proxy->callMethod("OpenSession")
                .onInterface(bus::kManagerInterface)
                .withArguments(user,
                               std::map<std::string, sdbus::Variant>{
                                   {"tmphome", sdbus::Variant(sys.tmphome().string())}})
                .storeResultsTo(path, mode, home, reference, fd, message);
            out.references.push_back(std::move(fd));
        } catch (const sdbus::Error& e) {
            out.refusals.push_back(e.getMessage());
        }
    }
    return out;
}

class Limits : public ::testing::Test {
  protected:
    void SetUp() override {
        sys.configure(",\n  \"max_references_per_user\": 50,\n  \"max_references\": 120");
        sys.start_daemon();
    }
    void TearDown() override {
        if (HasFailure()) std::cerr << "--- pershomed log:\n" << sys.daemon_log();
    }
    PershomeSystem sys;
};

TEST_F(Limits, OneAccountsThousandLoginsBreakNoOtherLogin) {
    Opened flood = open_many(sys, "patron40", 1000);
    EXPECT_EQ(flood.references.size(), 50u);
    ASSERT_EQ(flood.refusals.size(), 950u);
    EXPECT_EQ(flood.refusals.front(),
              "You have 50 sessions open already; log out of one of them first.");

    auto other = sys.login("patron41");
    ASSERT_EQ(other->open_rc, kPamSuccess) << other->open_text;
    other->run("echo fine > note.txt");
    EXPECT_EQ(other->close(), kPamSuccess);
    EXPECT_TRUE(eventually([&] { return !fs::exists(sys.home("patron41")); }));

    // Its logins end: the fds go, and with the last one the home.
    flood.references.clear();
    EXPECT_TRUE(eventually([&] { return !fs::exists(sys.home("patron40")); }, 30));
    EXPECT_FALSE(sys.session_references("patron40").has_value());
}

TEST_F(Limits, PastTheTotalAnyLoginIsRefusedWithASentenceAndLogoutsStillWork) {
    Opened a = open_many(sys, "patron42", 50);
    Opened b = open_many(sys, "patron43", 50);
    Opened c = open_many(sys, "patron44", 20);
    ASSERT_EQ(a.references.size() + b.references.size() + c.references.size(), 120u);
    auto late = sys.login("patron45");
    EXPECT_EQ(late->open_rc, kPamSessionErr);
    EXPECT_NE(late->open_text.find("as many as pershomed allows"), std::string::npos)
        << late->open_text;
    EXPECT_FALSE(fs::exists(sys.home("patron45")));
    late->close();

    c.references.pop_back();  // one logout
    EXPECT_TRUE(eventually([&] { return sys.session_references("patron44") == 19u; }));
    auto now = sys.login("patron45");
    EXPECT_EQ(now->open_rc, kPamSuccess) << now->open_text;
    EXPECT_EQ(now->close(), kPamSuccess);
}

}  // namespace
}  // namespace pershome::test
