// The Manager without a bus: queueing per account, references, recovery and
// teardown, driven the way manager_bus.cpp drives it. Real NSS lookups go
// through nss_wrapper (LD_PRELOAD set by ctest, the files written here);
// homes are made and removed for real below the test's own tmphome root.
#include "daemon/manager.hpp"
#include "daemon/user_db.hpp"

#include <gtest/gtest.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "common/bus_names.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/state_store.hpp"
#include "daemon/worker_pool.hpp"
#include "tests/support/temp_dir.hpp"

namespace pershome {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
constexpr uid_t kAlice = 30001;
constexpr uid_t kBob = 30002;

class ManagerTest : public ::testing::Test {
  protected:
    ManagerTest() {
        fs::permissions(tmp.path(), fs::perms(0755));
        fs::create_directory(root());
        fs::create_directory(tmp / "skel");
        test::write_file(tmp / "skel" / ".profile", "# profile\n");
        // Two names for one account, as a case-insensitive directory has.
        test::write_file(tmp / "passwd", "alice:x:30001:30001::" + home("alice") +
                                             ":/bin/sh\nALICE:x:30001:30001::" + home("alice") +
                                             ":/bin/sh\nbob:x:30002:30002::" + home("bob") +
                                             ":/bin/sh\n");
        test::write_file(tmp / "group", "alice:x:30001:\nbob:x:30002:\n");
        setenv("NSS_WRAPPER_PASSWD", (tmp / "passwd").c_str(), 1);
        setenv("NSS_WRAPPER_GROUP", (tmp / "group").c_str(), 1);
        prime_user_db();  // as pershomed's main does, before workers
        make_manager();
    }
    ~ManagerTest() override {
        manager.reset();
        if (HasFailure()) tmp.keep();
    }

    void make_manager() {
        manager.reset();
        ManagerSettings settings;
        settings.default_skel = (tmp / "skel").string();
        settings.persistent_homes = (tmp / "persistent_homes").string();  // absent
        manager = std::make_unique<Manager>(settings, loop, workers, store);
    }
    std::string root() const { return (tmp / "tmphome").string(); }
    std::string home(const std::string& user) const { return root() + "/" + user; }

    // What pam_pershome would get back, kept until the test drops it.
    struct Login {
        std::optional<tl::expected<OpenReply, OpError>> reply;
    };
    std::shared_ptr<Login> open(const std::string& user) {
        auto login = std::make_shared<Login>();
        OpenRequest r;
        r.user = user;
        r.tmphome = root();
        manager->open_session(r, [login](tl::expected<OpenReply, OpError> reply) {
            login->reply = std::move(reply);
        });
        return login;
    }

    // Runs the loop until PRED holds or the deadline passes.
    bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
        bool held = pred();
        const auto deadline = std::chrono::steady_clock::now() + limit;
        std::function<void()> check = [&] {
            held = pred();
            if (held || std::chrono::steady_clock::now() > deadline) {
                loop.quit();
                return;
            }
            loop.add_timer(2ms, check);
        };
        if (!held) {
            loop.add_timer(0ms, check);
            loop.run();
        }
        return held;
    }
    const Session* session(uid_t uid) const {
        auto it = manager->sessions().find(uid);
        return it == manager->sessions().end() ? nullptr : it->second.get();
    }

    test::TempDir tmp{"pershome-manager", "/var/tmp"};
    EventLoop loop;
    WorkerPool workers{loop, 2};
    StateStore store{(tmp / "state").string()};
    std::unique_ptr<Manager> manager;
};

TEST_F(ManagerTest, LoginsOfOneAccountUnderTwoNamesQueueIntoOneSession) {
    auto a = open("alice");
    auto b = open("ALICE");
    auto c = open("bob");
    ASSERT_TRUE(run_until([&] { return a->reply && b->reply && c->reply; }));
    ASSERT_TRUE(*a->reply) << a->reply->error().message;
    ASSERT_TRUE(*b->reply) << b->reply->error().message;
    ASSERT_TRUE(*c->reply);
    EXPECT_EQ((*a->reply)->home, home("alice"));
    EXPECT_EQ((*b->reply)->home, home("alice"));
    // One session, named by whichever login's lookup came first.
    EXPECT_EQ((*a->reply)->user, (*b->reply)->user);
    EXPECT_EQ(manager->sessions().size(), 2u);
    ASSERT_NE(session(kAlice), nullptr);
    EXPECT_EQ(session(kAlice)->references.size(), 2u);
    EXPECT_TRUE(fs::exists(home("alice") + "/.profile"));

    // The logins end (their FIFO write ends close): the home goes with the last.
    (*a->reply)->fifo.reset();
    ASSERT_TRUE(run_until([&] { return session(kAlice)->references.size() == 1; }));
    EXPECT_TRUE(fs::exists(home("alice") + "/.profile"));
    (*b->reply)->fifo.reset();
    ASSERT_TRUE(run_until([&] { return session(kAlice) == nullptr; }));
    EXPECT_FALSE(fs::exists(home("alice")));
    EXPECT_TRUE(fs::exists(home("bob")));
    EXPECT_FALSE(fs::exists(tmp / "state" / "sessions" / "30001.json"));
    EXPECT_TRUE(fs::exists(tmp / "state" / "sessions" / "30002.json"));
}

TEST_F(ManagerTest, CloseSessionFindsTheReferenceWhateverNameIsGiven) {
    auto a = open("alice");
    ASSERT_TRUE(run_until([&] { return a->reply.has_value(); }));
    ASSERT_TRUE(*a->reply);
    std::optional<tl::expected<std::string, OpError>> closed;
    manager->close_session("ALICE", (*a->reply)->reference,
                           [&](tl::expected<std::string, OpError> r) { closed = std::move(r); });
    ASSERT_TRUE(run_until([&] { return closed && session(kAlice) == nullptr; }));
    EXPECT_TRUE(*closed);
    EXPECT_FALSE(fs::exists(home("alice")));

    std::optional<tl::expected<std::string, OpError>> again;
    manager->close_session("alice", (*a->reply)->reference,
                           [&](tl::expected<std::string, OpError> r) { again = std::move(r); });
    ASSERT_TRUE(again.has_value()) << "an unknown reference is answered at once";
    ASSERT_FALSE(*again);
    EXPECT_EQ(again->error().name, bus::kErrorNoSuchSession);
}

TEST_F(ManagerTest, ARestartedManagerKeepsLiveLoginsAndEndsTheOthers) {
    auto a = open("alice");
    auto b = open("bob");
    ASSERT_TRUE(run_until([&] { return a->reply && b->reply; }));
    ASSERT_TRUE(*a->reply && *b->reply);
    // The daemon goes away; bob's login ends while it is gone.
    ASSERT_TRUE(run_until([&] { return manager->idle(); }));
    make_manager();
    (*b->reply)->fifo.reset();
    manager->recover();
    ASSERT_TRUE(run_until([&] { return session(kBob) == nullptr; }));
    EXPECT_FALSE(fs::exists(home("bob")));
    ASSERT_NE(session(kAlice), nullptr);
    EXPECT_EQ(session(kAlice)->references.size(), 1u);
    EXPECT_TRUE(fs::exists(home("alice") + "/.profile"));
    (*a->reply)->fifo.reset();
    ASSERT_TRUE(run_until([&] { return session(kAlice) == nullptr; }));
    EXPECT_FALSE(fs::exists(home("alice")));
}

TEST_F(ManagerTest, AnUnknownUserIsAnsweredWithoutAQueue) {
    auto x = open("nosuchuser");
    ASSERT_TRUE(run_until([&] { return x->reply.has_value(); }));
    ASSERT_FALSE(*x->reply);
    EXPECT_EQ(x->reply->error().name, bus::kErrorNoSuchUser);
    EXPECT_TRUE(manager->sessions().empty());
}

}  // namespace
}  // namespace pershome
