// Runs pershome-fs for real, inside the test's private mount namespace
// (see mount_main.cpp), and waits for the mount with a deadline.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace pershome::fs::test {

// A fresh temp dir with backing/ and mnt/, removed at the end.
class TempTree {
  public:
    TempTree();
    ~TempTree();
    TempTree(const TempTree&) = delete;
    TempTree& operator=(const TempTree&) = delete;
    const std::string& root() const { return root_; }
    std::string backing() const { return root_ + "/backing"; }
    std::string mnt() const { return root_ + "/mnt"; }

  private:
    std::string root_;
};

class Mount {
  public:
    // Starts `pershome-fs -f -o OPTIONS BACKING MNT` and waits until mounted.
    Mount(const std::string& backing, const std::string& mnt, const std::string& options = "");
    ~Mount();
    Mount(const Mount&) = delete;
    Mount& operator=(const Mount&) = delete;
    // Unmounts, waits for the process; returns its stderr.
    std::string unmount();
    // Kills the filesystem process as a power cut would (no flush, no
    // unmount), drops the dead mount and reaps it: once it returns, the
    // backing can no longer change. Returns its stderr.
    std::string crash();
    pid_t pid() const { return pid_; }
    const std::string& mnt() const { return mnt_; }
    std::string path(const std::string& rel) const { return mnt_ + "/" + rel; }

  private:
    std::string mnt_;
    std::string log_;
    pid_t pid_ = -1;
};

bool is_mounted(const std::string& mnt);
// Starts ARGS[0] with ARGS, its stderr to LOG; returns its pid.
pid_t spawn_logged(std::vector<std::string> args, const std::string& log);
// "pershome-fs: N index writes, M bytes" from a log; -1 if absent.
long index_writes(const std::string& log);
// The M of the same line; -1 if absent.
long long index_write_bytes(const std::string& log);
std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& data);
std::string fs_binary();

}  // namespace pershome::fs::test
