// The gated passthrough backing (gate_backing.cpp) as a test fixture, and
// waiting on a condition with a deadline.
#pragma once

#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <signal.h>
#include <chrono>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

#include "tests/fs/mount_harness.hpp"

namespace pershome::fs::test {

using Clock = std::chrono::steady_clock;

inline bool exists(const std::string& p) {
    return access(p.c_str(), F_OK) == 0;
}

// Polls `cond` until it holds or `deadline` passes.
inline bool wait_until(const std::function<bool()>& cond, Clock::duration deadline) {
    using namespace std::chrono_literals;
    const auto end = Clock::now() + deadline;
    while (!cond()) {
        if (Clock::now() > end) return false;
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

// The gated passthrough, mounted at root/gated over root/source; the gate
// is root/gate. Unmounted (gate opened first) when it goes.
class GatedBacking {
  public:
    explicit GatedBacking(const std::string& root)
        : source_(root + "/source"), mnt_(root + "/gated"), gate_(root + "/gate") {
        std::filesystem::create_directory(source_);
        std::filesystem::create_directory(mnt_);
        const std::string log = root + "/gated.log";
        pid_ = spawn_logged({FS_GATE_BACKING_BIN, source_, mnt_, gate_}, log);
        using namespace std::chrono_literals;
        if (!wait_until([&] { return is_mounted(mnt_) || waitpid(pid_, nullptr, WNOHANG) != 0; },
                        10s) ||
            !is_mounted(mnt_))
            throw std::runtime_error("gate backing did not mount: " + read_file(log));
    }
    ~GatedBacking() {
        using namespace std::chrono_literals;
        open_gate();
        open_data_gate();
        open_read_gate();
        open_fsync_gate();
        fail_index_fsyncs(false);
        umount2(mnt_.c_str(), MNT_DETACH);
        int status = 0;
        if (!wait_until([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, 10s)) {
            kill(pid_, SIGKILL);
            waitpid(pid_, &status, 0);
        }
    }
    GatedBacking(const GatedBacking&) = delete;
    GatedBacking& operator=(const GatedBacking&) = delete;

    const std::string& mnt() const { return mnt_; }
    const std::string& source() const { return source_; }
    void close_gate() { close_at(gate_); }
    void open_gate() { set_flag(gate_, false); }
    // Whether an index fsync is being held at the gate right now.
    bool holding() const { return holding_at(gate_); }

    // The same for writes to files other than indexes.
    void close_data_gate() { close_at(gate_ + ".data"); }
    void open_data_gate() { set_flag(gate_ + ".data", false); }
    bool holding_data() const { return holding_at(gate_ + ".data"); }

    // While on, fsyncs of indexes fail with EIO.
    void fail_index_fsyncs(bool on) { set_flag(gate_ + ".idx-eio", on); }

    // The same for reads of indexes (a directory's load).
    void close_read_gate() { close_at(gate_ + ".read"); }
    void open_read_gate() { set_flag(gate_ + ".read", false); }
    bool holding_read() const { return holding_at(gate_ + ".read"); }
    // The same for fsyncs of files named `name` (not indexes).
    void close_fsync_gate(const std::string& name) { close_at(gate_ + ".fsync", name); }
    void open_fsync_gate() { set_flag(gate_ + ".fsync", false); }
    bool holding_fsync() const { return holding_at(gate_ + ".fsync"); }
    // While on, writes to files other than indexes fail with EIO.
    void fail_data_writes(bool on) { set_flag(gate_ + ".eio", on); }

  private:
    // The backing's flag files: on while the file exists.
    static void close_at(const std::string& gate, const std::string& content = "") {
        write_file(gate, content);
        std::filesystem::remove(gate + ".held");
    }
    static bool holding_at(const std::string& gate) {
        return exists(gate + ".held") && exists(gate);
    }
    static void set_flag(const std::string& path, bool on) {
        std::error_code ec;
        if (on)
            write_file(path, "");
        else
            std::filesystem::remove(path, ec);
    }
    std::string source_, mnt_, gate_;
    pid_t pid_ = -1;
};

}  // namespace pershome::fs::test
