#include "tests/fs/mount_harness.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

namespace pershome::fs::test {

using namespace std::chrono_literals;

std::string fs_binary() {
    return PERSHOME_FS_BIN;
}

TempTree::TempTree() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "pershome-fs-test.XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
    root_ = tmpl;
    std::filesystem::create_directory(backing());
    std::filesystem::create_directory(mnt());
}

TempTree::~TempTree() {
    if (is_mounted(mnt())) umount2(mnt().c_str(), MNT_DETACH);
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
}

bool is_mounted(const std::string& mnt) {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string id, parent, devs, root, point;
        ls >> id >> parent >> devs >> root >> point;
        if (point == mnt) return true;
    }
    return false;
}

pid_t spawn_logged(std::vector<std::string> args, const std::string& log) {
    const pid_t pid = fork();
    if (pid == 0) {
        const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
    }
    return pid;
}

Mount::Mount(const std::string& backing, const std::string& mnt, const std::string& options)
    : mnt_(mnt), log_(mnt + ".log") {
    std::vector<std::string> args = {fs_binary(), "-f"};
    if (!options.empty()) {
        args.push_back("-o");
        args.push_back(options);
    }
    args.push_back(backing);
    args.push_back(mnt);
    pid_ = spawn_logged(std::move(args), log_);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!is_mounted(mnt_)) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("pershome-fs exited before mounting: " + read_file(log_));
        }
        if (std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error("pershome-fs did not mount within 10 s");
        std::this_thread::sleep_for(5ms);
    }
}

std::string Mount::unmount() {
    if (pid_ < 0) return read_file(log_);
    if (is_mounted(mnt_)) umount2(mnt_.c_str(), 0);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) != pid_) {
        if (std::chrono::steady_clock::now() > deadline) {
            kill(pid_, SIGKILL);
            waitpid(pid_, &status, 0);
            ADD_FAILURE() << "pershome-fs did not exit within 20 s of unmount";
            break;
        }
        std::this_thread::sleep_for(5ms);
    }
    pid_ = -1;
    const std::string log = read_file(log_);
    // A sanitizer report or a failing exit means a bug even if the test's
    // own checks passed (a SIGKILL from a crash test is not a failure).
    if (log.find("Sanitizer") != std::string::npos ||
        log.find("runtime error:") != std::string::npos)
        ADD_FAILURE() << "pershome-fs reported:\n" << log;
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        ADD_FAILURE() << "pershome-fs exited with " << WEXITSTATUS(status) << ":\n" << log;
    return log;
}

std::string Mount::crash() {
    EXPECT_EQ(kill(pid_, SIGKILL), 0);
    EXPECT_EQ(umount2(mnt_.c_str(), MNT_DETACH), 0);
    return unmount();
}

Mount::~Mount() {
    if (pid_ >= 0) unmount();
}

long index_writes(const std::string& log) {
    // (std::regex trips GCC 12's uninitialised-use warning under ASan.)
    const std::string tail = " index writes, ";
    const auto at = log.find(tail);
    if (at == std::string::npos) return -1;
    auto start = at;
    while (start > 0 && std::isdigit(static_cast<unsigned char>(log[start - 1]))) --start;
    if (start == at) return -1;
    return std::stol(log.substr(start, at - start));
}

long long index_write_bytes(const std::string& log) {
    const std::string tail = " index writes, ";
    const auto at = log.find(tail);
    if (at == std::string::npos) return -1;
    std::size_t end = at + tail.size();
    const std::size_t start = end;
    while (end < log.size() && std::isdigit(static_cast<unsigned char>(log[end]))) ++end;
    if (end == start) return -1;
    return std::stoll(log.substr(start, end - start));
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const std::string& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << data;
    if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace pershome::fs::test
