#include "config/persistent_homes.hpp"

#include <algorithm>
#include <cerrno>
#include <optional>
#include <unordered_map>

#include "config/config_lines.hpp"
#include "config/names.hpp"
#include "config/quote.hpp"
#include "config/read_file.hpp"

namespace pershome::config {

namespace {

constexpr LineLimits kLimits{};

// Parses the subject word; on failure returns the message.
std::optional<std::string> parse_subject(std::string_view word, Rule& rule) {
    if (word.starts_with('!')) {
        rule.negated = true;
        word.remove_prefix(1);
        if (word.empty()) return std::string("\"!\" must be followed by a user, @group or *");
    }
    if (word == "*") {
        rule.kind = Rule::Kind::Any;
        return std::nullopt;
    }
    if (word.starts_with('@')) {
        rule.kind = Rule::Kind::Group;
        word.remove_prefix(1);
        if (word.empty()) return std::string("empty group name after \"@\"");
        if (auto why = name_problem(word))
            return "bad group name " + quote_word(word) + ": " + *why;
    } else {
        rule.kind = Rule::Kind::User;
        if (auto why = name_problem(word)) return "bad user name " + quote_word(word) + ": " + *why;
    }
    rule.name = std::string(word);
    return std::nullopt;
}

// Remembers which subjects earlier rules already decide, to warn about
// rules that can never be reached. Hashing keeps a 1 MiB file linear.
class ShadowTracker {
  public:
    // Index of an earlier rule that decides every user `rule` could cover.
    std::optional<std::size_t> shadowing(const Rule& rule) const {
        if (any_) return any_;
        auto it = seen_.find(key(rule));
        if (it == seen_.end()) return std::nullopt;
        return it->second;
    }
    void add(const Rule& rule, std::size_t index) {
        if (rule.kind == Rule::Kind::Any && !any_) any_ = index;
        seen_.emplace(key(rule), index);
    }

  private:
    static std::string key(const Rule& rule) {
        return std::to_string(static_cast<int>(rule.kind)) + ":" + rule.name;
    }
    std::optional<std::size_t> any_;
    std::unordered_map<std::string, std::size_t> seen_;
};

}  // namespace

bool Rule::covers(std::string_view user, const std::vector<std::string>& groups) const {
    switch (kind) {
        case Kind::Any:
            return true;
        case Kind::User:
            return user == name;
        case Kind::Group:
            return std::find(groups.begin(), groups.end(), name) != groups.end();
    }
    return false;
}

std::string Rule::subject() const {
    std::string out = negated ? "!" : "";
    switch (kind) {
        case Kind::Any:
            return out + "*";
        case Kind::User:
            return out + name;
        case Kind::Group:
            return out + "@" + name;
    }
    return out;
}

const Rule* PersistentHomes::match(std::string_view user,
                                   const std::vector<std::string>& groups) const {
    for (const Rule& rule : rules) {
        if (rule.covers(user, groups)) return &rule;
    }
    return nullptr;
}

PersistentHomes parse_persistent_homes(std::string_view text, const std::string& filename,
                                       Diagnostics& diagnostics) {
    PersistentHomes out;
    out.file = filename;
    const std::size_t first_diagnostic = diagnostics.size();
    auto report = [&](int line, Severity severity, std::string message) {
        diagnostics.push_back(Diagnostic{filename, line, severity, std::move(message)});
    };

    ShadowTracker shadows;
    for (ConfigLine& line : split_config_lines(text, filename, diagnostics, kLimits)) {
        Rule rule;
        rule.line = line.number;
        if (auto err = parse_subject(line.words.front(), rule)) {
            report(line.number, Severity::Error, *err + "; line ignored");
            continue;
        }
        std::optional<std::string> bad_option;
        for (std::size_t i = 1; i < line.words.size() && !bad_option; ++i) {
            bad_option = apply_option(line.words[i], rule.options);
        }
        if (bad_option) {
            report(line.number, Severity::Error, *bad_option + "; line ignored");
            continue;
        }
        if (rule.negated && !rule.options.empty()) {
            // Keep the exclusion: dropping the line would hand this user the
            // persistent home the admin meant to withhold.
            report(line.number, Severity::Warning,
                   "options on a negated rule mean nothing and are ignored");
            rule.options = RuleOptions{};
        }
        if (auto index = shadows.shadowing(rule)) {
            const Rule& prev = out.rules[*index];
            report(line.number, Severity::Warning,
                   "rule \"" + rule.subject() + "\" is never used: line " +
                       std::to_string(prev.line) + " (\"" + prev.subject() +
                       "\") already decides for " +
                       (prev.kind == Rule::Kind::Any ? "every user" : "the same subject"));
        }
        shadows.add(rule, out.rules.size());
        out.rules.push_back(std::move(rule));
    }
    cap_diagnostics(diagnostics, first_diagnostic, kMaxPersistentHomesDiagnostics, filename);
    return out;
}

PersistentHomes load_persistent_homes(const std::string& path, Diagnostics& diagnostics) {
    // One byte past the cap is enough for the parser to see the file is too
    // big; it keeps the whole lines before the cap.
    auto text = read_config_file(path, kLimits.max_file_bytes + 1, nullptr, Oversize::Truncate);
    if (!text) {
        if (text.error().error != ENOENT) {
            diagnostics.push_back(Diagnostic{
                path, 0, Severity::Error,
                "cannot read: " + text.error().message + "; no persistent homes from this file"});
        }
        PersistentHomes none;
        none.file = path;
        return none;
    }
    return parse_persistent_homes(*text, path, diagnostics);
}

}  // namespace pershome::config
