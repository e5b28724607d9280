// The daemon's event loop: work posted from other threads, watched fds,
// timers and signals all arrive on the loop thread, in order.
#include "daemon/event_loop.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <thread>
#include <vector>

namespace pershome {
namespace {

using namespace std::chrono_literals;

TEST(EventLoop, PostFromAnotherThreadRunsOnTheLoop) {
    EventLoop loop;
    std::thread::id ran_on;
    std::thread worker(
        [&] { loop.post([&] { ran_on = std::this_thread::get_id(), loop.quit(); }); });
    loop.run();
    worker.join();
    EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST(EventLoop, TimersFireInOrderAndCanBeCancelled) {
    EventLoop loop;
    std::vector<int> fired;
    // Far after the others: a loop that runs late must not reorder them.
    loop.add_timer(200ms, [&] { fired.push_back(3); });
    const uint64_t cancelled = loop.add_timer(20ms, [&] { fired.push_back(99); });
    loop.add_timer(10ms, [&] { fired.push_back(1); });
    loop.add_timer(20ms, [&] {
        fired.push_back(2);
        // A timer may add another.
        loop.add_timer(5ms, [&] { fired.push_back(4); });
    });
    loop.add_timer(230ms, [&] { loop.quit(); });
    loop.cancel_timer(cancelled);
    const auto t0 = std::chrono::steady_clock::now();
    loop.run();
    EXPECT_EQ(fired, (std::vector<int>{1, 2, 4, 3}));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 230ms);
}

// One operation's bug must not end the daemon that holds everyone's homes.
TEST(EventLoop, ACallbackThatThrowsDoesNotEndTheLoop) {
    EventLoop loop;
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    loop.watch(p[0], POLLIN, [&](short) {
        loop.unwatch(p[0]);
        throw std::runtime_error("handler bug");
    });
    ASSERT_EQ(write(p[1], "x", 1), 1);
    loop.post([] { throw std::runtime_error("posted bug"); });
    loop.add_timer(1ms, [] { throw 42; });
    bool reached = false;
    loop.add_timer(30ms, [&] {
        reached = true;
        loop.quit();
    });
    EXPECT_NO_THROW(loop.run());
    EXPECT_TRUE(reached);
    close(p[0]);
    close(p[1]);
}

// A watched fd closed by mistake is reported as POLLNVAL on every poll: the
// loop would spin at 100% CPU. It is passed on once, then unwatched.
TEST(EventLoop, AClosedWatchedFdIsReportedOnceNotSpunOn) {
    EventLoop loop;
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    int calls = 0;
    short seen = 0;
    loop.watch(p[0], POLLIN, [&](short revents) {
        ++calls;
        seen = revents;
    });
    close(p[0]);
    loop.add_timer(50ms, [&] { loop.quit(); });
    loop.run();
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(seen & POLLNVAL);
    close(p[1]);
}

TEST(EventLoop, WatchedFdAndUnwatchFromItsOwnHandler) {
    EventLoop loop;
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    int calls = 0;
    loop.watch(p[0], POLLIN, [&](short revents) {
        EXPECT_TRUE(revents & POLLIN);
        char c;
        EXPECT_EQ(read(p[0], &c, 1), 1);
        ++calls;
        loop.unwatch(p[0]);
        loop.add_timer(20ms, [&] { loop.quit(); });
    });
    ASSERT_EQ(write(p[1], "xy", 2), 2);  // a second byte stays unread: no more calls
    loop.run();
    EXPECT_EQ(calls, 1);
    close(p[0]);
    close(p[1]);
}

TEST(EventLoop, TermSignalReachesTheHandler) {
    EventLoop loop;
    int got = 0;
    loop.set_signal_handler([&](int signo) {
        got = signo;
        loop.quit();
    });
    loop.add_timer(5s, [&] { loop.quit(); });  // a deadline, should the signal be lost
    ASSERT_EQ(raise(SIGTERM), 0);
    loop.run();
    EXPECT_EQ(got, SIGTERM);
}

}  // namespace
}  // namespace pershome
