// Logging for pershomed. Every line goes through write(), which escapes
// control bytes and invalid UTF-8 (names from a user's home or a stick can
// reach a message; a newline in one would forge a log line of its own).
// Under systemd (JOURNAL_STREAM set) lines go to the journal natively, with
// the structured fields of an Event; otherwise to stderr, timestamped, for a
// terminal or a test log.
#pragma once

#include <sys/types.h>

#include <fmt/core.h>

#include <optional>
#include <string_view>

namespace pershome::log {

// Syslog priorities, so config::syslog_priority() converts directly.
enum class Level { Error = 3, Warning = 4, Notice = 5, Info = 6, Debug = 7 };

// What happened to whose home, as journal fields (PERSHOME_OPERATION=,
// USER=, UID=, HOME=, DEVICE=, PERSHOME_ERROR=), so that
// `journalctl PERSHOME_OPERATION=remove USER=p12345` finds it. Empty fields
// are left out. The operations are listed in pershomed(8).
struct Event {
    std::string_view operation{};
    std::string_view user{};
    std::optional<uid_t> uid{};
    std::string_view home{};
    std::string_view device{};
    std::string_view error{};
};

void set_level(Level level);
bool enabled(Level level);
void write(Level level, std::string_view message, const Event* event = nullptr);

template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
    write(Level::Error, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warning(fmt::format_string<Args...> f, Args&&... args) {
    write(Level::Warning, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void notice(fmt::format_string<Args...> f, Args&&... args) {
    write(Level::Notice, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(Level::Info)) write(Level::Info, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(Level::Debug)) write(Level::Debug, fmt::format(f, std::forward<Args>(args)...));
}
// One line that is also an Event.
template <typename... Args>
void event(Level level, const Event& e, fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(level)) write(level, fmt::format(f, std::forward<Args>(args)...), &e);
}

}  // namespace pershome::log
