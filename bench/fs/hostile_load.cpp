// pershome-fs-bench-hostile: how long loading one directory takes (index
// read, backing listing, reconcile: load_dir, as a mount does) when its
// index file is crafted against the reader (tests/fs/hostile_index.hpp).
//
//   pershome-fs-bench-hostile [MIB...]   (default: 1 2 4 8 and the cap)
//
// Each load runs in a child process of its own, so that its peak RSS is
// its own. Prints seconds and peak RSS per shape and size.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fs/dir_state.hpp"
#include "tests/fs/hostile_index.hpp"

using namespace pershome::fs;
using namespace pershome::fs::test;

namespace {

constexpr std::size_t kListing = 2000;

// Loads `dir` in a child; "seconds peak_rss_mib problems" on its stdout.
void load_in_child(const std::string& dir) {
    std::fflush(stdout);
    const pid_t pid = fork();
    if (pid != 0) {
        int st = 0;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) std::printf("  (child failed: %d)\n", st);
        return;
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::string> problems;
    DirState d = load_dir(pershome::UniqueFd(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)),
                          ReconcileOptions{}, &problems);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const double cpu =
        ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    std::printf("%8.3f s (cpu %6.3f s) %8.1f MiB peak %9zu entries %9zu problems\n", s, cpu,
                ru.ru_maxrss / 1024.0, d.entries.size(), problems.size());
    std::fflush(stdout);
    _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::size_t> mib;
    for (int i = 1; i < argc; ++i) mib.push_back(std::strtoul(argv[i], nullptr, 10));
    if (mib.empty()) mib = {1, 2, 4, 8, static_cast<std::size_t>(kMaxIndexFileSize >> 20)};
    char tmpl[] = "/var/tmp/pershome-hostile.XXXXXX";
    if (!mkdtemp(tmpl)) return 1;
    const std::string dir = tmpl;
    for (const auto& name : hostile_listing(kListing)) std::ofstream(dir + "/" + name) << "x";
    std::printf("index load (load_dir) of a directory of %zu files, hostile index:\n", kListing);
    for (const auto& c : hostile_shapes()) {
        for (std::size_t m : mib) {
            {
                std::ofstream out(dir + "/PERSHOME.IDX", std::ios::binary | std::ios::trunc);
                const std::string f = hostile_index(c.shape, m << 20);
                out.write(f.data(), static_cast<std::streamsize>(f.size()));
            }
            std::printf("%-11s %4zu MiB: ", c.name, m);
            load_in_child(dir);
        }
    }
    std::filesystem::remove_all(dir);
    return 0;
}
