// The test helpers are code too: a child's output must never block it, and
// deadlines must hold.
#include "tests/support/process.hpp"

#include <filesystem>
#include <thread>

#include <gtest/gtest.h>
#include <sys/wait.h>

#include "tests/support/temp_dir.hpp"

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

TEST(RunShell, ExitStatusAndSetE) {
    EXPECT_EQ(run_shell("true"), 0);
    EXPECT_EQ(run_shell("exit 3"), 3);
    EXPECT_EQ(run_shell("false; true"), 1);  // set -e: the first failure ends it
}

// Whether PID has ended (gone, or a zombie nobody has reaped yet).
bool ended(const std::string& pid) {
    const std::string stat = read_file("/proc/" + pid + "/stat");
    const size_t paren = stat.rfind(')');
    return stat.empty() || (paren != std::string::npos && stat.compare(paren + 2, 1, "Z") == 0);
}

TEST(RunShell, DeadlineKillsWhatTheShellStarted) {
    TempDir tmp("pershome-support");
    const std::string pidfile = (tmp / "pid").string();
    const auto start = Clock::now();
    // Killing bash alone would leave the sleep it started running.
    EXPECT_EQ(
        run_shell("sleep 30 & echo $! > '" + pidfile + "'; wait; touch '" + pidfile + ".late'",
                  300ms),
        -1);
    EXPECT_LT(Clock::now() - start, 10s);
    std::string pid = read_file(pidfile);
    while (!pid.empty() && pid.back() == '\n') pid.pop_back();
    ASSERT_FALSE(pid.empty());
    const auto deadline = Clock::now() + 5s;
    while (!ended(pid) && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(ended(pid)) << "sleep " << pid << " outlived the deadline";
    EXPECT_FALSE(std::filesystem::exists(pidfile + ".late"));
}

}  // namespace
}  // namespace pershome::test
