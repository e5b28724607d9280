// uml_stat_probe CREATE STAT: creates CREATE (mode 0600, O_EXCL) in one
// thread and meanwhile stats STAT again and again in another, each stat
// asking the filesystem (AT_STATX_FORCE_SYNC), until the create returns.
// Prints "create_us N", then "stat_us N" for each stat begun while the
// create still ran. One process: in user-mode Linux a fork+exec of stat(1)
// costs about 120 ms on a loaded machine, which would hide what is timed.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: uml_stat_probe CREATE STAT\n");
        return 2;
    }
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
    std::vector<long long> stats;
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
    }
    creator.join();
    if (create_err) {
        std::fprintf(stderr, "uml_stat_probe: create %s: %s\n", argv[1], std::strerror(create_err));
        return 1;
    }
    std::printf("create_us %lld\n", static_cast<long long>(us(end - start)));
    for (long long s : stats) std::printf("stat_us %lld\n", s);
    return 0;
}
