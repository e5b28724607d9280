// The per-user settings of a persistent home, as written on a rule of
// persistent_homes(5) or in ~/.persistent_home: stick=, fallback=, flush=.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace pershome::config {

// Which USB stick may hold the user's home.
struct StickSelector {
    enum class Kind { Any, Label, Uuid };
    Kind kind = Kind::Any;
    std::string value;  // label as written / uuid upper-cased; empty for Any

    // Labels and UUIDs compare ASCII case-insensitively: FAT tools disagree
    // about case, and nobody has two sticks told apart only by it.
    bool matches(std::string_view label, std::string_view uuid) const;
    std::string str() const;  // "any", "label:NAME", "uuid:XXXX-XXXX"
    bool operator==(const StickSelector&) const = default;
};

// What happens at login when no suitable stick is plugged in.
enum class Fallback {
    Tmphome,  // a temporary home, if the passwd home lies under a tmphome root
    Deny,     // the session is refused with a message
    None,     // nothing: the passwd home is used as it is
};

std::string_view to_string(Fallback fallback);

inline constexpr int kMaxFlushSeconds = 3600;

// Options as written: unset means "not said here".
struct RuleOptions {
    std::optional<StickSelector> stick;
    std::optional<Fallback> fallback;
    std::optional<std::chrono::seconds> flush;

    bool empty() const { return !stick && !fallback && !flush; }
    std::string str() const;  // "stick=... flush=..." for logs; only what is set
    bool operator==(const RuleOptions&) const = default;
};

// Options in effect for one login.
struct HomeOptions {
    StickSelector stick;  // default: any
    Fallback fallback = Fallback::Tmphome;
    std::chrono::seconds flush{5};  // metadata write-back interval of pershome-fs

    std::string str() const;
    bool operator==(const HomeOptions&) const = default;
};

// What the admin set wins; what the admin left unset the user may set;
// the rest is the built-in default.
HomeOptions resolve_options(const RuleOptions& admin, const RuleOptions& user);

// Applies one "key=value" word to `options`. Returns nullopt on success,
// else a message for a Diagnostic (unknown option, bad value, repeated).
std::optional<std::string> apply_option(std::string_view word, RuleOptions& options);

}  // namespace pershome::config
