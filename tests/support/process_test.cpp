// The test helpers are code too: a child's output must never block it, and
// deadlines must hold.
#include "tests/support/process.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

namespace pershome::test {
namespace {

using namespace std::chrono_literals;

TEST(Child, WaitDrainsBinaryOutputOfAnySize) {
    Child c;
    // More than a pipe holds, with every byte value in it.
    c.start({"/usr/bin/head", "-c", "300000", "/dev/urandom"}, clean_environment());
    c.close_stdin();
    int status = c.wait(Clock::now() + 20s);
    ASSERT_NE(status, -1) << "the child blocked on a full pipe";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    c.read_until(Clock::now() + 5s);
    EXPECT_EQ(c.out_text.size(), 300000u);
}

TEST(Child, WaitLineAndDeadline) {
    Child c;
    c.start({"/bin/sh", "-c", "echo first; echo 'second half'; sleep 30"}, clean_environment());
    auto line = c.wait_line("second", Clock::now() + 10s);
    ASSERT_TRUE(line.has_value());
    EXPECT_EQ(*line, "second half");
    auto t0 = Clock::now();
    EXPECT_FALSE(c.wait_line("never", Clock::now() + 300ms).has_value());
    EXPECT_LT(Clock::now() - t0, 5s);
    EXPECT_EQ(c.wait(Clock::now() + 100ms), -1);  // still sleeping
    c.kill_and_reap();
    EXPECT_FALSE(c.running());
}

}  // namespace
}  // namespace pershome::test
