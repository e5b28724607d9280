#include "tests/support/temp_dir.hpp"

#include <stdlib.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <system_error>

namespace pershome::test {

TempDir::TempDir(const std::string& prefix, const std::string& base) {
    std::string tmpl = base + "/" + prefix + ".XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::system_error(errno, std::generic_category(), "mkdtemp");
    path_ = tmpl;
}

TempDir::~TempDir() {
    if (keep_) {
        std::cerr << "kept " << path_ << " for a look\n";
        return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
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
