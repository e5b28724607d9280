// Helpers of homework's tests, which run as root, each in its own scratch directory.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "common/unique_fd.hpp"
#include "tests/support/temp_dir.hpp"

namespace pershome::homework::test {

// The scratch directory all tests share (tests/support).
using pershome::test::TempDir;

inline void write_file(const std::string& path, const std::string& content, mode_t mode = 0644) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    ASSERT_TRUE(fd) << path;
    ASSERT_EQ(::write(fd.get(), content.data(), content.size()),
              static_cast<ssize_t>(content.size()));
    ASSERT_EQ(::fchmod(fd.get(), mode), 0);
}

inline std::string read_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return "<missing>";
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
}

inline bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

inline mode_t mode_of(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return 0;
    return st.st_mode;
}

inline void make_dir(const std::string& path, mode_t mode = 0755) {
    ASSERT_EQ(::mkdir(path.c_str(), mode), 0) << path;
    ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
}

// Runs `body` in a forked child and fails the test with whatever the child reports. The child
// writes failures as text to its stdout pipe and exits non-zero; gtest asserts do not cross fork.
template <typename Body>
void in_child(Body body) {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::close(fds[0]);
        std::string failures;
        body(failures);
        if (!failures.empty()) (void)!::write(fds[1], failures.data(), failures.size());
        ::_exit(failures.empty() ? 0 : 1);
    }
    ::close(fds[1]);
    std::string report;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) report.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child failed:\n" << report;
}

#define CHILD_CHECK(failures, cond)                                                               \
    do {                                                                                          \
        if (!(cond))                                                                              \
            (failures) += std::string(__FILE__ ":") + std::to_string(__LINE__) + ": " #cond "\n"; \
    } while (0)

}  // namespace pershome::homework::test
