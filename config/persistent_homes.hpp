// /etc/ltsp/persistent_homes: who gets a persistent home on a USB stick.
// Format: docs/persistent_homes.5.md. First matching rule wins.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostic.hpp"
#include "config/home_options.hpp"

namespace pershome::config {

inline constexpr const char* kDefaultPersistentHomesPath = "/etc/ltsp/persistent_homes";
// Diagnostics reported per file; the rest are summed up in one.
inline constexpr std::size_t kMaxPersistentHomesDiagnostics = 100;

struct Rule {
    enum class Kind { User, Group, Any };
    Kind kind = Kind::Any;
    bool negated = false;  // "!subject": this user gets no persistent home
    std::string name;      // user or group name; empty for Any
    RuleOptions options;   // always empty on a negated rule
    int line = 0;

    // Whether the subject covers this user (negation not applied).
    bool covers(std::string_view user, const std::vector<std::string>& groups) const;
    std::string subject() const;  // as written: "joseph", "!@patrons", "*"
    bool operator==(const Rule&) const = default;
};

struct PersistentHomes {
    std::string file;  // where the rules came from, for messages
    std::vector<Rule> rules;

    // The first rule whose subject covers the user, or nullptr. `groups`
    // are the names of all the user's groups, primary and supplementary.
    // A returned negated rule means: no persistent home, and the user's
    // ~/.persistent_home is not consulted either.
    const Rule* match(std::string_view user, const std::vector<std::string>& groups) const;
};

// Never throws on content: each bad line is skipped with a Diagnostic.
PersistentHomes parse_persistent_homes(std::string_view text, const std::string& filename,
                                       Diagnostics& diagnostics);

// A missing file means no rules, without a diagnostic; an unreadable one
// means no rules, with a diagnostic. Never throws.
PersistentHomes load_persistent_homes(const std::string& path, Diagnostics& diagnostics);

}  // namespace pershome::config
