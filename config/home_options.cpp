#include "config/home_options.hpp"

#include "config/quote.hpp"

#include <algorithm>

namespace pershome::config {

namespace {

char upper(char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return upper(x) == upper(y); });
}

// FAT labels are 11 bytes; other filesystems allow more. Anything longer is
// a mistake, not a label.
constexpr std::size_t kMaxLabelBytes = 64;
constexpr std::size_t kMaxUuidBytes = 64;

std::optional<std::string> parse_stick(std::string_view value, StickSelector& out) {
    const std::string expected = " (expected any, label:NAME or uuid:XXXX-XXXX)";
    if (value == "any") {
        out = StickSelector{};
        return std::nullopt;
    }
    if (value.starts_with("label:")) {
        std::string_view label = value.substr(6);
        if (label.empty()) return std::string("empty label in stick=label:");
        if (label.size() > kMaxLabelBytes) {
            return "label longer than " + std::to_string(kMaxLabelBytes) + " bytes in stick=";
        }
        out = StickSelector{StickSelector::Kind::Label, std::string(label)};
        return std::nullopt;
    }
    if (value.starts_with("uuid:")) {
        std::string_view uuid = value.substr(5);
        if (uuid.empty()) return std::string("empty uuid in stick=uuid:");
        bool hex = std::all_of(uuid.begin(), uuid.end(), [](char c) {
            return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                   c == '-';
        });
        if (!hex || uuid.size() > kMaxUuidBytes) {
            return "bad uuid " + quote_word(uuid) +
                   " in stick= (hex digits and \"-\", like 1A2B-3C4D)";
        }
        std::string norm(uuid);
        std::transform(norm.begin(), norm.end(), norm.begin(), upper);
        out = StickSelector{StickSelector::Kind::Uuid, std::move(norm)};
        return std::nullopt;
    }
    return "bad value " + quote_word(value) + " for stick" + expected;
}

std::optional<std::string> parse_fallback(std::string_view value, Fallback& out) {
    if (value == "tmphome") {
        out = Fallback::Tmphome;
    } else if (value == "deny") {
        out = Fallback::Deny;
    } else if (value == "none") {
        out = Fallback::None;
    } else {
        return "bad value " + quote_word(value) + " for fallback (expected tmphome, deny or none)";
    }
    return std::nullopt;
}

std::optional<std::string> parse_flush(std::string_view value, std::chrono::seconds& out) {
    const std::string expected =
        " for flush (expected whole seconds from 0 to " + std::to_string(kMaxFlushSeconds) + ")";
    if (value.empty() || value.size() > 9 ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return "bad value " + quote_word(value) + expected;
    }
    int n = 0;
    for (char c : value) n = n * 10 + (c - '0');
    if (n > kMaxFlushSeconds) return "bad value " + quote_word(value) + expected;
    out = std::chrono::seconds(n);
    return std::nullopt;
}

}  // namespace

bool StickSelector::matches(std::string_view label, std::string_view uuid) const {
    switch (kind) {
        case Kind::Any:
            return true;
        case Kind::Label:
            return iequals(value, label);
        case Kind::Uuid:
            return iequals(value, uuid);
    }
    return false;
}

std::string StickSelector::str() const {
    switch (kind) {
        case Kind::Any:
            return "any";
        case Kind::Label:
            return "label:" + value;
        case Kind::Uuid:
            return "uuid:" + value;
    }
    return "any";
}

std::string_view to_string(Fallback fallback) {
    switch (fallback) {
        case Fallback::Tmphome:
            return "tmphome";
        case Fallback::Deny:
            return "deny";
        case Fallback::None:
            return "none";
    }
    return "tmphome";
}

std::string RuleOptions::str() const {
    std::string out;
    auto add = [&](const std::string& s) {
        if (!out.empty()) out += ' ';
        out += s;
    };
    if (stick) add("stick=" + stick->str());
    if (fallback) add("fallback=" + std::string(to_string(*fallback)));
    if (flush) add("flush=" + std::to_string(flush->count()));
    return out;
}

std::string HomeOptions::str() const {
    return "stick=" + stick.str() + " fallback=" + std::string(to_string(fallback)) +
           " flush=" + std::to_string(flush.count());
}

HomeOptions resolve_options(const RuleOptions& admin, const RuleOptions& user) {
    HomeOptions out;
    if (auto s = admin.stick ? admin.stick : user.stick) out.stick = *s;
    if (auto f = admin.fallback ? admin.fallback : user.fallback) out.fallback = *f;
    if (auto f = admin.flush ? admin.flush : user.flush) out.flush = *f;
    return out;
}

std::optional<std::string> apply_option(std::string_view word, RuleOptions& options) {
    const std::size_t eq = word.find('=');
    const std::string_view key = word.substr(0, eq);
    const bool known = key == "stick" || key == "fallback" || key == "flush";
    if (!known) {
        if (eq == std::string_view::npos) {
            return "unexpected " + quote_word(word) + " (options are written key=value)";
        }
        return "unknown option " + quote_word(key) + " (known: stick, fallback, flush)";
    }
    if (eq == std::string_view::npos)
        return "option " + quote_word(key) + " needs a value: " + std::string(key) + "=...";
    const std::string_view value = word.substr(eq + 1);
    const bool repeated = (key == "stick" && options.stick) ||
                          (key == "fallback" && options.fallback) ||
                          (key == "flush" && options.flush);
    if (repeated) return "option " + quote_word(key) + " given twice; the first one counts";

    if (key == "stick") {
        StickSelector s;
        if (auto err = parse_stick(value, s)) return err;
        options.stick = std::move(s);
    } else if (key == "fallback") {
        Fallback f{};
        if (auto err = parse_fallback(value, f)) return err;
        options.fallback = f;
    } else {
        std::chrono::seconds s{};
        if (auto err = parse_flush(value, s)) return err;
        options.flush = s;
    }
    return std::nullopt;
}

}  // namespace pershome::config
