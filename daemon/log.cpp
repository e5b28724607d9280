#include "daemon/log.hpp"

#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

namespace pershome::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::Info)};

bool under_journal() {
    static const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
    return journal;
}

}  // namespace

void set_level(Level level) {
    g_level = static_cast<int>(level);
}

bool enabled(Level level) {
    return static_cast<int>(level) <= g_level.load();
}

void write(Level level, std::string_view message) {
    if (!enabled(level)) return;
    std::string line;
    if (under_journal()) {
        line = fmt::format("<{}>{}\n", static_cast<int>(level), message);
    } else {
        timespec ts{};
        clock_gettime(CLOCK_REALTIME, &ts);
        tm t{};
        gmtime_r(&ts.tv_sec, &t);
        static constexpr const char* kNames[] = {"",        "",       "",     "error",
                                                 "warning", "notice", "info", "debug"};
        line =
            fmt::format("{:02}:{:02}:{:02}.{:03} pershomed {}: {}\n", t.tm_hour, t.tm_min, t.tm_sec,
                        ts.tv_nsec / 1000000, kNames[static_cast<int>(level)], message);
    }
    // One write(2) per line so lines from worker threads never interleave.
    ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
    (void)ignored;
}

}  // namespace pershome::log
