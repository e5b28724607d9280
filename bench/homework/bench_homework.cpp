// pershome-bench-homework [--dir BASE] [--files N] [--reps N] [--skel-files N]
//
// Builds identical trees and times, in one run and in alternating order:
//   (a) remove_tree against `rm -rf` on a tree of N files (default 100,000);
//   (b) copy_skel against `cp -a` on a skel of 1,000 mixed files in 50 directories.
// Prints absolute medians and ratios; the targets are reported, never enforced.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/unique_fd.hpp"
#include "homework/skel_copy.hpp"
#include "homework/tree_remove.hpp"

namespace {

using pershome::UniqueFd;
using Clock = std::chrono::steady_clock;

// Wall time is what the targets speak of; CPU time (user + system) is shown beside it because
// on a disk shared with other work the wall time of metadata-heavy runs is mostly other
// people's I/O.
struct Sample {
    double wall = 0;
    double cpu = 0;
};

double seconds(const struct timeval& tv) {
    return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6;
}
double cpu_of(const struct rusage& ru) {
    return seconds(ru.ru_utime) + seconds(ru.ru_stime);
}

[[noreturn]] void die(const std::string& what) {
    fmt::print(stderr, "pershome-bench-homework: {}: {}\n", what, std::strerror(errno));
    std::exit(2);
}

UniqueFd open_dir(int at, const std::string& name) {
    UniqueFd fd(::openat(at, name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) die("open " + name);
    return fd;
}

void make_dir(int at, const std::string& name) {
    if (::mkdirat(at, name.c_str(), 0755) != 0) die("mkdir " + name);
}

void make_file(int at, const std::string& name, size_t size) {
    UniqueFd fd(::openat(at, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd) die("create " + name);
    static const std::string data(1 << 20, 'x');
    for (size_t done = 0; done < size;) {
        const ssize_t n = ::write(fd.get(), data.data(), std::min(size - done, data.size()));
        if (n <= 0) die("write " + name);
        done += static_cast<size_t>(n);
    }
}

// A home-like tree: 10 top directories, each with subdirectories of 100 files.
void build_remove_tree(int at, const std::string& name, int files) {
    make_dir(at, name);
    UniqueFd top = open_dir(at, name);
    int made = 0;
    for (int t = 0; made < files; ++t) {
        const std::string tname = fmt::format("top{}", t);
        make_dir(top.get(), tname);
        UniqueFd tdir = open_dir(top.get(), tname);
        for (int s = 0; s < 100 && made < files; ++s) {
            const std::string sname = fmt::format("sub{}", s);
            make_dir(tdir.get(), sname);
            UniqueFd sdir = open_dir(tdir.get(), sname);
            for (int f = 0; f < 100 && made < files; ++f, ++made) {
                make_file(sdir.get(), fmt::format("file{}.txt", f),
                          static_cast<size_t>(f % 7) * 100);
            }
        }
    }
}

// A skel-like tree: 10 dirs with 4 subdirs each (50 dirs), 20 files per dir of mixed sizes,
// plus a few symlinks.
void build_skel(int at, const std::string& name, int files) {
    make_dir(at, name);
    UniqueFd top = open_dir(at, name);
    std::vector<UniqueFd> dirs;
    for (int t = 0; t < 10; ++t) {
        const std::string tname = fmt::format(".config{}", t);
        make_dir(top.get(), tname);
        dirs.push_back(open_dir(top.get(), tname));
        for (int s = 0; s < 4; ++s) {
            const std::string sname = fmt::format("sub{}", s);
            make_dir(dirs[dirs.size() - 1 - static_cast<size_t>(s)].get(), sname);
            dirs.push_back(open_dir(dirs[dirs.size() - 1 - static_cast<size_t>(s)].get(), sname));
        }
    }
    for (int i = 0; i < files; ++i) {
        // Mostly small dotfiles, some a few KiB, one in fifty 64 KiB to 1 MiB.
        size_t size = 100 + static_cast<size_t>(i * 37 % 2000);
        if (i % 10 == 0) size = 8 * 1024 + static_cast<size_t>(i % 5) * 1024;
        if (i % 50 == 0) size = 64 * 1024 << (i / 50 % 5);
        make_file(dirs[static_cast<size_t>(i) % dirs.size()].get(), fmt::format("file{}.rc", i),
                  size);
    }
    for (int i = 0; i < 10; ++i) {
        if (::symlinkat(fmt::format("file{}.rc", i).c_str(), dirs[static_cast<size_t>(i)].get(),
                        fmt::format("link{}", i).c_str()) != 0) {
            die("symlink");
        }
    }
}

Sample run_command(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const auto t0 = Clock::now();
    const pid_t pid = ::fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    int status = 0;
    struct rusage ru {};
    if (::wait4(pid, &status, 0, &ru) != pid) die("wait4");
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fmt::print(stderr, "pershome-bench-homework: {} failed\n", argv[0]);
        std::exit(2);
    }
    return {wall, cpu_of(ru)};
}

Sample time_it(const std::function<void()>& fn) {
    struct rusage r0 {
    }, r1{};
    ::getrusage(RUSAGE_THREAD, &r0);
    const auto t0 = Clock::now();
    fn();
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    ::getrusage(RUSAGE_THREAD, &r1);
    return {wall, cpu_of(r1) - cpu_of(r0)};
}

double median(const std::vector<Sample>& v, double Sample::*field) {
    std::vector<double> x;
    for (const auto& s : v) x.push_back(s.*field);
    std::sort(x.begin(), x.end());
    const size_t n = x.size();
    return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

std::string samples(const std::vector<Sample>& v) {
    std::string s;
    for (const auto& x : v) s += fmt::format("{}{:.3f}", s.empty() ? "" : " ", x.wall);
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    const char* env_tmp = std::getenv("TMPDIR");
    std::string base = env_tmp && *env_tmp ? env_tmp : "/var/tmp";
    int files = 100000;
    int skel_files = 1000;
    int reps = 3;
    int copy_reps = 5;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                fmt::print(stderr, "{} needs a value\n", a);
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--dir") {
            base = value();
        } else if (a == "--files") {
            files = std::stoi(value());
        } else if (a == "--skel-files") {
            skel_files = std::stoi(value());
        } else if (a == "--reps") {
            reps = std::stoi(value());
            copy_reps = reps;
        } else {
            fmt::print(stderr,
                       "usage: pershome-bench-homework [--dir BASE] [--files N] "
                       "[--skel-files N] [--reps N]\n");
            return 2;
        }
    }

    std::string work = base + "/pershome-bench-XXXXXX";
    if (::mkdtemp(work.data()) == nullptr) die("mkdtemp in " + base);
    UniqueFd wfd = open_dir(AT_FDCWD, work);
    fmt::print("pershome homework benchmark in {}\n", work);

    // (a) removal
    std::vector<Sample> ours_rm, ref_rm;
    for (int r = 0; r < reps; ++r) {
        build_remove_tree(wfd.get(), "ours", files);
        build_remove_tree(wfd.get(), "theirs", files);
        ::sync();  // writeback of the build must not land in either timing
        auto ours = [&] {
            ours_rm.push_back(time_it([&] {
                auto res = pershome::homework::remove_tree(wfd.get(), "ours");
                if (!res || !res->top_removed) {
                    fmt::print(stderr, "remove_tree failed: {}\n",
                               res ? "incomplete" : res.error());
                    std::exit(2);
                }
            }));
        };
        auto theirs = [&] { ref_rm.push_back(run_command({"rm", "-rf", work + "/theirs"})); };
        // Each run starts with the disk quiet: the journal and discards of the one before
        // must not be billed to the one after.
        if (r % 2 == 0) {
            ours();
            ::sync();
            theirs();
        } else {
            theirs();
            ::sync();
            ours();
        }
        ::sync();
    }

    // (b) skel copy
    build_skel(wfd.get(), "skel", skel_files);
    ::sync();
    UniqueFd skel = open_dir(wfd.get(), "skel");
    std::vector<Sample> ours_cp, ref_cp;
    for (int r = 0; r < copy_reps; ++r) {
        make_dir(wfd.get(), "home-ours");
        make_dir(wfd.get(), "home-cp");
        auto ours = [&] {
            ours_cp.push_back(time_it([&] {
                UniqueFd dest = open_dir(wfd.get(), "home-ours");
                auto res = pershome::homework::copy_skel(skel.get(), dest.get(), 1000, 1000);
                if (!res || res->files != static_cast<uint64_t>(skel_files)) {
                    fmt::print(stderr, "copy_skel failed: {}\n", res ? "wrong count" : res.error());
                    std::exit(2);
                }
            }));
        };
        auto theirs = [&] {
            ref_cp.push_back(run_command({"cp", "-a", work + "/skel/.", work + "/home-cp"}));
        };
        // Each run starts with the disk quiet: the journal and discards of the one before
        // must not be billed to the one after.
        if (r % 2 == 0) {
            ours();
            ::sync();
            theirs();
        } else {
            theirs();
            ::sync();
            ours();
        }
        (void)pershome::homework::remove_tree(wfd.get(), "home-ours");
        (void)pershome::homework::remove_tree(wfd.get(), "home-cp");
        ::sync();
    }
    (void)pershome::homework::remove_tree(wfd.get(), "skel");
    wfd.reset();
    ::rmdir(work.c_str());

    const double rm_ratio = median(ours_rm, &Sample::wall) / median(ref_rm, &Sample::wall);
    const double cp_ratio = median(ours_cp, &Sample::wall) / median(ref_cp, &Sample::wall);
    const double rm_cpu_ratio = median(ours_rm, &Sample::cpu) / median(ref_rm, &Sample::cpu);
    const double cp_cpu_ratio = median(ours_cp, &Sample::cpu) / median(ref_cp, &Sample::cpu);
    fmt::print("\n{:<40} {:>9} {:>16} {:>6} | {:>8} {:>8} {:>6}\n", "medians", "ours wall",
               "reference wall", "ratio", "ours cpu", "ref cpu", "ratio");
    auto row = [](const std::string& what, const char* ref, const std::vector<Sample>& ours,
                  const std::vector<Sample>& theirs) {
        fmt::print("{:<40} {:>7.3f} s {:>6} {:>7.3f} s {:>6.2f} | {:>6.3f} s {:>6.3f} s {:>6.2f}\n",
                   what, median(ours, &Sample::wall), ref, median(theirs, &Sample::wall),
                   median(ours, &Sample::wall) / median(theirs, &Sample::wall),
                   median(ours, &Sample::cpu), median(theirs, &Sample::cpu),
                   median(ours, &Sample::cpu) / median(theirs, &Sample::cpu));
    };
    row(fmt::format("remove_tree, {} files, {} runs", files, reps), "rm -rf", ours_rm, ref_rm);
    row(fmt::format("copy_skel, {} files/50 dirs, {} runs", skel_files, copy_reps), "cp -a",
        ours_cp, ref_cp);
    fmt::print("\nwall samples (s): remove ours [{}] rm [{}]\n", samples(ours_rm), samples(ref_rm));
    fmt::print("                  copy ours [{}] cp [{}]\n\n", samples(ours_cp), samples(ref_cp));
    fmt::print("remove ratio ≤ 1.2: {} ({:.2f} wall, {:.2f} cpu)\n",
               rm_ratio <= 1.2 ? "PASS" : "MISS", rm_ratio, rm_cpu_ratio);
    fmt::print("copy ratio ≤ 1.2: {} ({:.2f} wall, {:.2f} cpu)\n",
               cp_ratio <= 1.2 ? "PASS" : "MISS", cp_ratio, cp_cpu_ratio);
    return 0;
}
