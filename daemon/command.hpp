// External programs (fsck.fat, mount backends, pershome-fs) run without a
// shell, with a clean environment and a deadline. Called on worker threads.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

#include <tl/expected.hpp>
#include <vector>
#include "common/unique_fd.hpp"

namespace pershome {

// The fd number spawn_detached hands a child (after stdin, stdout, stderr).
inline constexpr int kHandedFd = 3;

struct CommandResult {
    int status = -1;         // exit status; -1 when killed or not run
    bool timed_out = false;  // killed at the deadline
    std::string output;      // stdout and stderr, at most 64 KiB

    // "exit status 4: <first line of output>" / "killed after 60 s" for messages.
    std::string describe() const;
};

// Runs ARGV (argv[0] an absolute path or a name found in the standard PATH)
// and waits at most TIMEOUT; then SIGKILL to the child by pid.
CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

// Starts ARGV in a session of its own, detached from ours (stdin and stdout
// /dev/null, stderr shared: it reaches our log); HANDED, when not -1, is its
// fd 3. Returns its pid; the caller reaps it (see wait_exit) or leaves it to
// init.
[[nodiscard]] tl::expected<pid_t, std::string> spawn_detached(const std::vector<std::string>& argv,
                                                              int handed = -1);

// Waits up to TIMEOUT for PID to end (any process, not only our child, via a
// pidfd); reaps it when it is ours. True when it is gone.
bool wait_exit(pid_t pid, std::chrono::milliseconds timeout);

// A pidfd names one process for good: a signal through it never reaches a
// later process that got the same pid.
UniqueFd open_pidfd(pid_t pid);
int signal_pidfd(int pidfd, int signo);

// Whether PID is still alive and runs EXE_NAME (guards against pid reuse
// after a restart).
bool process_runs(pid_t pid, const std::string& exe_name);

}  // namespace pershome
