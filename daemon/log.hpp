// Logging for pershomed. Under systemd (JOURNAL_STREAM set) every line carries a
// syslog priority prefix "<N>" that journald parses; otherwise lines are
// timestamped for a terminal or a test log.
#pragma once

#include <fmt/core.h>

#include <string_view>

namespace pershome::log {

// Syslog priorities, so config::syslog_priority() converts directly.
enum class Level { Error = 3, Warning = 4, Notice = 5, Info = 6, Debug = 7 };

void set_level(Level level);
bool enabled(Level level);
void write(Level level, std::string_view message);

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

}  // namespace pershome::log
