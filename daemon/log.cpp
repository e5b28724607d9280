#include "daemon/log.hpp"

#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/display_text.hpp"

namespace pershome::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::Info)};

bool under_journal() {
    static const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
    return journal;
}

// sd_journal_send reports success when the socket is missing (it drops the
// entry silently), so whether the journal listens is asked first.
bool journal_listens() {
    static const bool listens = ::access("/run/systemd/journal/socket", F_OK) == 0;
    return listens;
}

void to_stderr(Level level, const std::string& text, bool journal_prefix) {
    std::string line;
    if (journal_prefix) {
        line = fmt::format("<{}>{}\n", static_cast<int>(level), text);
    } else {
        timespec ts{};
        clock_gettime(CLOCK_REALTIME, &ts);
        tm t{};
        gmtime_r(&ts.tv_sec, &t);
        static constexpr const char* kNames[] = {"",        "",       "",     "error",
                                                 "warning", "notice", "info", "debug"};
        line = fmt::format("{:02}:{:02}:{:02}.{:03} pershomed {}: {}\n", t.tm_hour, t.tm_min,
                           t.tm_sec, ts.tv_nsec / 1000000, kNames[static_cast<int>(level)], text);
    }
    // One write(2) per line so lines from worker threads never interleave.
    ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
    (void)ignored;
}

// The journal's native protocol: one datagram of FIELD=value items. Values
// are escaped like the message, so none holds a newline.
bool to_journal(Level level, const std::string& text, const Event* e) {
    std::vector<std::string> fields;
    fields.push_back("MESSAGE=" + text);
    fields.push_back(fmt::format("PRIORITY={}", static_cast<int>(level)));
    fields.push_back("SYSLOG_IDENTIFIER=pershomed");
    if (e) {
        auto add = [&](const char* key, std::string_view value) {
            if (!value.empty()) fields.push_back(std::string(key) + "=" + log_text(value));
        };
        add("PERSHOME_OPERATION", e->operation);
        add("USER", e->user);
        if (e->uid) fields.push_back(fmt::format("UID={}", *e->uid));
        add("HOME", e->home);
        add("DEVICE", e->device);
        add("PERSHOME_ERROR", e->error);
    }
    std::vector<iovec> iov;
    for (auto& f : fields) iov.push_back({f.data(), f.size()});
    return sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) >= 0;
}

}  // namespace

void set_level(Level level) {
    g_level = static_cast<int>(level);
}

bool enabled(Level level) {
    return static_cast<int>(level) <= g_level.load();
}

void write(Level level, std::string_view message, const Event* event) {
    if (!enabled(level)) return;
    const std::string text = log_text(message);
    if (under_journal()) {
        // Without a journal socket (a chroot, a test) the stream still works.
        if (!journal_listens() || !to_journal(level, text, event)) to_stderr(level, text, true);
        return;
    }
    to_stderr(level, text, false);
}

}  // namespace pershome::log
