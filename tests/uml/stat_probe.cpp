// uml_stat_probe CREATE STAT [DIR]: creates CREATE (mode 0600, O_EXCL) in
// one thread and meanwhile stats STAT again and again in another, each stat
// asking the filesystem (AT_STATX_FORCE_SYNC), until the create returns.
// With DIR, each round also creates a file in DIR (named after CREATE's
// last component and a count) and appends 4 KiB to STAT: things that may
// allocate clusters. Prints "create_us N", then "stat_us N" for each stat,
// "alloc_us N" for each create+append and "newfile_us N" for each create
// begun while the create still ran. One process: in user-mode Linux a
// fork+exec of stat(1) costs about 120 ms on a loaded machine, which would
// hide what is timed.
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

int create_and_append(const char* made, const char* append_to, long long* create_us) {
    const auto start = std::chrono::steady_clock::now();
    const int c = open(made, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (c < 0) return errno;
    close(c);
    *create_us = std::chrono::duration_cast<std::chrono::microseconds>(
                     std::chrono::steady_clock::now() - start)
                     .count();
    const int a = open(append_to, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (a < 0) return errno;
    const std::string block(4096, 'w');
    const ssize_t n = write(a, block.data(), block.size());
    const int err = n == static_cast<ssize_t>(block.size()) ? 0 : n < 0 ? errno : EIO;
    close(a);
    return err;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3 && argc != 4) {
        std::fprintf(stderr, "usage: uml_stat_probe CREATE STAT [DIR]\n");
        return 2;
    }
    const char* alloc_dir = argc == 4 ? argv[3] : nullptr;
    using Clock = std::chrono::steady_clock;
    auto us = [](Clock::duration d) {
        return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    };
    std::atomic<bool> done{false};
    int create_err = 0;
    const auto start = Clock::now();
    Clock::time_point end;
    std::thread creator([&] {
        const int fd = open(argv[1], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        create_err = fd < 0 ? errno : 0;
        if (fd >= 0) close(fd);
        end = Clock::now();
        done = true;
    });
    std::vector<long long> stats, allocs, creates;
    while (!done) {
        // Every stat begun before the create returned counts, also one that
        // ends after it (one held up by the create ends only then).
        const auto s = Clock::now();
        struct statx sx {};
        if (statx(AT_FDCWD, argv[2], AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, &sx) != 0) {
            std::fprintf(stderr, "uml_stat_probe: stat %s: %s\n", argv[2], std::strerror(errno));
            creator.join();
            return 1;
        }
        const auto e = Clock::now();
        stats.push_back(us(e - s));
        if (alloc_dir && !done) {
            const std::string made = std::string(alloc_dir) + "/" + basename(argv[1]) + "." +
                                     std::to_string(allocs.size());
            long long created = 0;
            if (int err = create_and_append(made.c_str(), argv[2], &created)) {
                std::fprintf(stderr, "uml_stat_probe: create %s or append to %s: %s\n",
                             made.c_str(), argv[2], std::strerror(err));
                creator.join();
                return 1;
            }
            allocs.push_back(us(Clock::now() - e));
            creates.push_back(created);
        }
    }
    creator.join();
    if (create_err) {
        std::fprintf(stderr, "uml_stat_probe: create %s: %s\n", argv[1], std::strerror(create_err));
        return 1;
    }
    std::printf("create_us %lld\n", static_cast<long long>(us(end - start)));
    for (long long s : stats) std::printf("stat_us %lld\n", s);
    for (long long a : allocs) std::printf("alloc_us %lld\n", a);
    for (long long c : creates) std::printf("newfile_us %lld\n", c);
    return 0;
}
