// pershomed's own configuration: `pershomed --config FILE`, a JSON object in
// which every key is optional. Documented in docs/pershomed.json.5.md.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_error.hpp"

namespace pershome::config {

enum class LogLevel { Debug, Info, Notice, Warning, Error };

std::string_view to_string(LogLevel level);
// The syslog(3) / sd-journal PRIORITY for messages at this level.
int syslog_priority(LogLevel level);

struct DaemonConfig {
    // Session state, reference FIFOs; must be on a tmpfs that dies with the machine.
    std::string state_dir = "/run/pershome";
    // Who gets a persistent home (persistent_homes(5)).
    std::string persistent_homes = "/etc/ltsp/persistent_homes";
    // Skeleton for new temporary homes when the PAM line names no skel=.
    std::string default_skel = "/etc/skel";
    LogLevel log_level = LogLevel::Info;
    // Worker threads for slow file work (copying skel, removing trees).
    int workers = 4;
    // If non-empty, the only tmphome roots a PAM line may name. Stored
    // lexically normalised: no trailing slash, no repeated slashes.
    std::vector<std::string> tmphome_roots;
    // Longest an open/close operation may take before it is failed.
    std::chrono::seconds operation_timeout{120};
    // The pershome-fs binary that persistent homes are mounted with.
    std::string pershome_fs = "/usr/bin/pershome-fs";
    // How long a login waits for sticks udev (or the daemon) is still probing:
    // a stick plugged a moment before login must not be missed.
    std::chrono::milliseconds stick_settle{3000};
    // Deadlines of fsck.fat on a stick pulled last time, and of mounting.
    std::chrono::seconds fsck_timeout{60};
    std::chrono::seconds mount_timeout{30};
    // At logout: how long the user's leftover processes get between SIGTERM
    // and SIGKILL, and a busy stick before it is detached.
    std::chrono::seconds logout_grace{5};
    // Each open login holds one fd in the daemon: one account's thousands of
    // logins must not take the fds every other login needs.
    int max_references_per_user = 64;
    int max_references = 4096;
    // Mount commands of remote sticks (AttachDevice), by backend name: argv
    // templates with {source} and {mountpoint}, run without a shell.
    std::map<std::string, std::vector<std::string>> stick_backends;

    bool operator==(const DaemonConfig&) const = default;

    // True if a PAM line's tmphome= root is acceptable: always when
    // tmphome_roots is empty, else only an exact match after normalising
    // (so "/tmphome/" matches "/tmphome", but "/tmphome2" and
    // "/tmphome/../etc" never do). Relative paths and ".." are never allowed.
    bool allows_tmphome_root(std::string_view root) const;
};

// Files bigger than this are refused: a config is a few hundred bytes.
inline constexpr std::size_t kMaxDaemonConfigBytes = 1024 * 1024;

// Parses JSON text (comments // and /* */ allowed; empty text means all
// defaults). `filename` only labels errors. Throws ConfigError naming the
// offending key and, where the text shows it, its line.
DaemonConfig parse_daemon_config(std::string_view json_text, const std::string& filename);

// Reads and parses `path`. Throws ConfigError also when the file cannot be
// read (the message names the file and carries strerror).
DaemonConfig load_daemon_config(const std::string& path);

// The effective configuration as pretty JSON, every key spelled out
// (for `pershomed --print-config` and for logging at startup).
std::string dump_daemon_config(const DaemonConfig& config);

// Lexical normalisation of an absolute path: collapses "//", drops "/./"
// and a trailing "/". Returns "" for a relative path or one with "..", so
// callers cannot be fooled by "/tmphome/../etc".
std::string normalize_absolute_path(std::string_view path);

}  // namespace pershome::config
