#include "daemon/command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <fstream>

#include "common/unique_fd.hpp"
#include "homework/errno_text.hpp"

namespace pershome {
namespace {

using Clock = std::chrono::steady_clock;
using homework::errno_text;

constexpr std::size_t kMaxOutput = 64 * 1024;

char* const kCleanEnv[] = {const_cast<char*>("PATH=/usr/sbin:/usr/bin:/sbin:/bin"),
                           const_cast<char*>("LC_ALL=C.UTF-8"), nullptr};

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
    std::vector<char*> out;
    for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
    out.push_back(nullptr);
    return out;
}

// posix_spawn with a clean environment and no blocked signals (our event
// loop blocks some); FLAGS add e.g. a new session or process group.
int spawn(pid_t* pid, const std::vector<std::string>& argv, posix_spawn_file_actions_t* fa,
          short flags) {
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, static_cast<short>(POSIX_SPAWN_SETSIGMASK | flags));
    auto args = c_argv(argv);
    int err = ::posix_spawnp(pid, args[0], fa, &attr, args.data(), kCleanEnv);
    posix_spawn_file_actions_destroy(fa);
    posix_spawnattr_destroy(&attr);
    return err;
}

}  // namespace

// Debian 12's <sys/pidfd.h> declares these without C linkage: the syscalls.
UniqueFd open_pidfd(pid_t pid) {
    return UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
}

int signal_pidfd(int pidfd, int signo) {
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, signo, nullptr, 0));
}

std::string CommandResult::describe() const {
    std::string first = output.substr(0, output.find('\n'));
    if (timed_out) return "did not finish before its deadline and was killed";
    if (status < 0) return first.empty() ? "could not be run" : first;
    return fmt::format("exit status {}{}{}", status, first.empty() ? "" : ": ", first);
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    CommandResult r;
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) {
        r.output = "pipe: " + errno_text(errno);
        return r;
    }
    UniqueFd rd(pipefd[0]), wr(pipefd[1]);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, wr.get(), 1);
    posix_spawn_file_actions_adddup2(&fa, wr.get(), 2);
    pid_t pid = -1;
    int err = spawn(&pid, argv, &fa, POSIX_SPAWN_SETPGROUP);
    wr.reset();
    if (err != 0) {
        r.output = fmt::format("{}: {}", argv[0], errno_text(err));
        return r;
    }
    const auto deadline = Clock::now() + timeout;
    char buf[4096];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            // Its own process group: a helper it started goes too.
            ::kill(-pid, SIGKILL);
            ::kill(pid, SIGKILL);
            r.timed_out = true;
            break;
        }
        pollfd p{rd.get(), POLLIN, 0};
        int n = ::poll(&p, 1, static_cast<int>(left.count()));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) continue;
        ssize_t got = ::read(rd.get(), buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;  // every writer closed: the program is ending
        if (r.output.size() < kMaxOutput) r.output.append(buf, static_cast<std::size_t>(got));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!r.timed_out && WIFEXITED(status)) r.status = WEXITSTATUS(status);
    return r;
}

tl::expected<pid_t, std::string> spawn_detached(const std::vector<std::string>& argv, int handed) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    // dup2 leaves the copy without O_CLOEXEC, so it survives the exec.
    if (handed >= 0) posix_spawn_file_actions_adddup2(&fa, handed, kHandedFd);
    pid_t pid = -1;
    int err = spawn(&pid, argv, &fa, POSIX_SPAWN_SETSID);
    if (err != 0) return tl::unexpected(fmt::format("{}: {}", argv[0], errno_text(err)));
    return pid;
}

bool wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
    UniqueFd pidfd = open_pidfd(pid);
    if (!pidfd) {
        // ESRCH: gone already (reap it if it was ours).
        ::waitpid(pid, nullptr, WNOHANG);
        return errno == ESRCH;
    }
    pollfd p{pidfd.get(), POLLIN, 0};
    int n;
    while ((n = ::poll(&p, 1, static_cast<int>(timeout.count()))) < 0 && errno == EINTR) {
    }
    if (n <= 0) return false;
    // ECHILD when a previous run of the daemon started it: init reaps it.
    ::waitpid(pid, nullptr, WNOHANG);
    return true;
}

bool process_runs(pid_t pid, const std::string& exe_name) {
    if (pid <= 0) return false;
    std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    if (!std::getline(comm, name)) return false;
    // comm is cut at 15 bytes.
    return exe_name.compare(0, name.size(), name) == 0 && !name.empty();
}

}  // namespace pershome
