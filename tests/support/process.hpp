// Child processes for tests: started with an exact argv and environment,
// talked to through pipes, waited for with deadlines, and killed by pid when
// the test is done with them. Nothing here sleeps and hopes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.hpp"

namespace pershome::test {

using Clock = std::chrono::steady_clock;

class Child {
  public:
    Child() = default;
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child() { kill_and_reap(); }

    // Starts ARGV (argv[0] is a path) with exactly ENV. stdin, stdout and
    // stderr are pipes to us, or with OUTPUT_FILE, stdout and stderr are
    // appended to that file (for long-running chatty children nobody reads
    // while they run). Throws on failure.
    void start(const std::vector<std::string>& argv, const std::vector<std::string>& env,
               const std::string& output_file = "");

    pid_t pid() const { return pid_; }
    bool running() const { return pid_ > 0; }

    // Writes TEXT to the child's stdin.
    void write_stdin(const std::string& text);
    void close_stdin() { in_.reset(); }

    // Reads output until PRED(out_text) holds, both pipes end, or DEADLINE
    // passes. Returns whether PRED held (or, without PRED, the pipes ended).
    bool read_until(Clock::time_point deadline, const std::string& needle = "");

    // Waits for a complete output line that starts with PREFIX, beginning at
    // byte FROM of out_text. Returns the line (without newline) and sets
    // *END past it, or nullopt at DEADLINE or end of output.
    std::optional<std::string> wait_line(const std::string& prefix, Clock::time_point deadline,
                                         size_t from = 0, size_t* end = nullptr);

    // Waits for the exit up to DEADLINE; returns the wait status or -1.
    int wait(Clock::time_point deadline);

    void signal(int signo);
    void kill_and_reap();

    std::string out_text, err_text;

  private:
    // One poll round: reads what is there. False when nothing can come any more.
    bool read_some(Clock::time_point deadline);

    pid_t pid_ = -1;
    UniqueFd in_, out_, err_;
};

// Runs LINE as `bash -c "set -e; LINE"` with this process's environment and
// stdio, in a process group of its own, and waits up to TIMEOUT; then kills
// the group and says so on stderr. Returns the exit status, or -1 when the
// shell died of a signal, was killed at the deadline, or could not start.
int run_shell(const std::string& line,
              std::chrono::milliseconds timeout = std::chrono::seconds(120));

// This process's environment minus variables that would leak into a child
// by accident (preloads, bus addresses, wrapper settings).
std::vector<std::string> clean_environment();

}  // namespace pershome::test
