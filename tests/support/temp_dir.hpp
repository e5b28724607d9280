// A test's own directory under /tmp: everything a test writes goes here, and
// it is removed afterwards (kept when the test failed, for a look).
#pragma once

#include <filesystem>
#include <string>

namespace pershome::test {

class TempDir {
  public:
    explicit TempDir(const std::string& prefix = "pershome-test", const std::string& base = "/tmp");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }
    void keep() { keep_ = true; }

  private:
    std::filesystem::path path_;
    bool keep_ = false;
};

void write_file(const std::filesystem::path& p, const std::string& text);
std::string read_file(const std::filesystem::path& p);

}  // namespace pershome::test
