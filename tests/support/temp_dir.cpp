#include "tests/support/temp_dir.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <system_error>

namespace pershome::test {

TempDir::TempDir(const std::string& prefix, const std::string& base) {
    std::string tmpl = base + "/" + prefix + ".XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::system_error(errno, std::generic_category(), "mkdtemp");
    path_ = tmpl;
    fd_.reset(::open(tmpl.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd_) throw std::system_error(errno, std::generic_category(), "open " + tmpl);
}

TempDir::~TempDir() {
    fd_.reset();
    if (keep_) {
        std::cerr << "kept " << path_ << " for a look\n";
        return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& rel, std::string_view text) const {
    write_file(path_ / rel, std::string(text));
    return (path_ / rel).string();
}

std::string TempDir::default_base() {
    const char* env = ::getenv("TMPDIR");
    return env && *env == '/' ? env : "/tmp";
}

std::string TempDir::memory_base() {
    struct stat st {};
    return ::stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : default_base();
}

void write_file(const std::filesystem::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.good()) throw std::runtime_error("cannot write " + p.string());
}

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace pershome::test
