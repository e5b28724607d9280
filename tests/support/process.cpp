#include "tests/support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <stdexcept>
#include <system_error>

extern char** environ;

namespace pershome::test {
namespace {

void read_into(UniqueFd& fd, short revents, std::string& text) {
    if (!fd || !(revents & (POLLIN | POLLHUP | POLLERR))) return;
    char buf[8192];
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n > 0) {
        text.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
        fd.reset();
    }
}

}  // namespace

void Child::start(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                  const std::string& output_file) {
    int inp[2], outp[2], errp[2];
    UniqueFd file;
    if (!output_file.empty()) {
        file.reset(::open(output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
        if (!file) throw std::system_error(errno, std::generic_category(), output_file);
    }
    if (pipe2(inp, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        throw std::system_error(errno, std::generic_category(), "pipe2");
    }
    std::vector<char*> a, e;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    for (const auto& s : env) e.push_back(const_cast<char*>(s.c_str()));
    e.push_back(nullptr);
    pid_ = fork();
    if (pid_ < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid_ == 0) {
        dup2(inp[0], 0);
        dup2(file ? file.get() : outp[1], 1);
        dup2(file ? file.get() : errp[1], 2);
        // Tests block signals for their own reasons; children start clean.
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        execve(a[0], a.data(), e.data());
        _exit(127);
    }
    close(inp[0]);
    close(outp[1]);
    close(errp[1]);
    in_.reset(inp[1]);
    out_.reset(outp[0]);
    err_.reset(errp[0]);
}

void Child::write_stdin(const std::string& text) {
    size_t off = 0;
    while (in_ && off < text.size()) {
        ssize_t n = ::write(in_.get(), text.data() + off, text.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::system_error(errno, std::generic_category(), "write to child");
        }
        off += static_cast<size_t>(n);
    }
}

bool Child::read_until(Clock::time_point deadline, const std::string& needle) {
    while (out_ || err_) {
        if (!needle.empty() && out_text.find(needle) != std::string::npos) return true;
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return false;
        pollfd p[2] = {{out_.get(), POLLIN, 0}, {err_.get(), POLLIN, 0}};
        int n = poll(p, 2, static_cast<int>(left));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        read_into(out_, p[0].revents, out_text);
        read_into(err_, p[1].revents, err_text);
    }
    return needle.empty() || out_text.find(needle) != std::string::npos;
}

bool Child::read_some(Clock::time_point deadline) {
    if (!out_ && !err_) return false;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p[2] = {{out_.get(), POLLIN, 0}, {err_.get(), POLLIN, 0}};
    int n = poll(p, 2, static_cast<int>(left));
    if (n < 0) return errno == EINTR;
    read_into(out_, p[0].revents, out_text);
    read_into(err_, p[1].revents, err_text);
    return true;
}

std::optional<std::string> Child::wait_line(const std::string& prefix, Clock::time_point deadline,
                                            size_t from, size_t* end) {
    for (;;) {
        size_t pos = from;
        while (pos < out_text.size()) {
            size_t nl = out_text.find('\n', pos);
            if (nl == std::string::npos) break;
            if (out_text.compare(pos, prefix.size(), prefix) == 0) {
                if (end) *end = nl + 1;
                return out_text.substr(pos, nl - pos);
            }
            pos = nl + 1;
        }
        if (Clock::now() >= deadline || !read_some(deadline)) {
            if (Clock::now() >= deadline || (!out_ && !err_)) return std::nullopt;
        }
    }
}

int Child::wait(Clock::time_point deadline) {
    while (pid_ > 0) {
        int status = 0;
        pid_t r = waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            pid_ = -1;
            return status;
        }
        if (Clock::now() >= deadline) return -1;
        // Drain output meanwhile so a chatty child cannot block on a full pipe.
        if (!read_some(std::min(deadline, Clock::now() + std::chrono::milliseconds(5)))) {
            poll(nullptr, 0, 2);
        }
    }
    return -1;
}

void Child::signal(int signo) {
    if (pid_ > 0) ::kill(pid_, signo);
}

void Child::kill_and_reap() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }
}

int run_shell(const std::string& line, std::chrono::milliseconds timeout) {
    const std::string script = "set -e; " + line;
    const auto deadline = Clock::now() + timeout;
    const pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        setpgid(0, 0);  // so that the deadline can end its pipelines too
        execl("/bin/bash", "bash", "-c", script.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    setpgid(pid, 0);  // both sides: no race with a kill before the child ran
    UniqueFd exited(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    for (;;) {
        int status = 0;
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (r < 0 && errno != EINTR) return -1;
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) break;
        // A pidfd turns readable at the exit; without one (old kernel) poll in small steps.
        pollfd p{exited.get(), POLLIN, 0};
        poll(exited ? &p : nullptr, exited ? 1 : 0,
             exited ? static_cast<int>(left.count()) : std::min<int>(10, left.count()));
    }
    kill(-pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    std::cerr << "run_shell: killed after " << timeout.count() << " ms: " << line << "\n";
    return -1;
}

std::vector<std::string> clean_environment() {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
        std::string s = *e;
        if (s.starts_with("LD_PRELOAD=") || s.starts_with("DBUS_") ||
            s.starts_with("PAM_WRAPPER") || s.starts_with("NSS_WRAPPER") ||
            s.starts_with("UMOCKDEV") || s.starts_with("JOURNAL_STREAM=")) {
            continue;
        }
        env.push_back(s);
    }
    return env;
}

}  // namespace pershome::test
