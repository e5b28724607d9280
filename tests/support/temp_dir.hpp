// A test's own directory under /tmp: everything a test writes goes here, and
// it is removed afterwards (kept when the test failed, for a look).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/unique_fd.hpp"

namespace pershome::test {

class TempDir {
  public:
    explicit TempDir(const std::string& prefix = "pershome-test", const std::string& base = "/tmp");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }
    // An O_RDONLY fd of the directory, for the *at() calls of code under test.
    int fd() const { return fd_.get(); }
    // Writes TEXT to REL below the directory; returns the file's path.
    std::string write(const std::string& rel, std::string_view text) const;
    void keep() { keep_ = true; }

    // $TMPDIR when it is an absolute path, else /tmp.
    static std::string default_base();
    // /dev/shm when there is one: big trees are made there far faster than on
    // a busy disk, and than the code under test takes to work on them.
    static std::string memory_base();

  private:
    std::filesystem::path path_;
    UniqueFd fd_;
    bool keep_ = false;
};

void write_file(const std::filesystem::path& p, const std::string& text);
std::string read_file(const std::filesystem::path& p);

}  // namespace pershome::test
