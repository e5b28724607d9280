// Random and mutated input: the parsers may complain, never crash or throw
// anything but ConfigError. Deterministic seeds, so a failure reproduces.
#include <gtest/gtest.h>

#include <random>

#include "config/daemon_config.hpp"
#include "config/persistent_homes.hpp"
#include "config/user_opt_in.hpp"

namespace pershome::config {
namespace {

const std::string kValidJson = R"({
  // c
  "state_dir": "/run/pershome", "workers": 4, "log_level": "info",
  "tmphome_roots": ["/tmphome", "/srv/t"], "operation_timeout_sec": 120
})";

const std::string kValidRules =
    "!guest\njoseph stick=label:\"A B\" fallback=deny\n@staff flush=10\n*\n# end\n";

// Flips, inserts and deletes a few bytes of `text`.
std::string mutate(std::string text, std::mt19937& rng) {
    std::uniform_int_distribution<int> byte(0, 255);
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < edits; ++i) {
        std::size_t pos = text.empty() ? 0 : rng() % text.size();
        switch (rng() % 3) {
            case 0:
                if (!text.empty()) text[pos] = static_cast<char>(byte(rng));
                break;
            case 1:
                text.insert(pos, 1, static_cast<char>(byte(rng)));
                break;
            default:
                if (!text.empty()) text.erase(pos, 1);
        }
    }
    return text;
}

std::string random_bytes(std::mt19937& rng) {
    std::string out(rng() % 300, '\0');
    for (char& c : out) c = static_cast<char>(rng() % 256);
    return out;
}

TEST(HostileInput, DaemonConfigThrowsOnlyConfigError) {
    std::mt19937 rng(12345);
    int rejected = 0;
    for (int i = 0; i < 3000; ++i) {
        std::string text = i % 3 == 0 ? random_bytes(rng) : mutate(kValidJson, rng);
        try {
            parse_daemon_config(text, "fuzz.json");
        } catch (const ConfigError& e) {
            ++rejected;
            EXPECT_EQ(e.file, "fuzz.json");
            EXPECT_GE(e.line, 0);
        }
    }
    EXPECT_GT(rejected, 1000);  // the mutations do break things
}

TEST(HostileInput, PersistentHomesNeverThrows) {
    std::mt19937 rng(777);
    for (int i = 0; i < 3000; ++i) {
        std::string text = i % 3 == 0 ? random_bytes(rng) : mutate(kValidRules, rng);
        Diagnostics d;
        PersistentHomes p;
        ASSERT_NO_THROW(p = parse_persistent_homes(text, "fuzz", d));
        for (const Rule& r : p.rules) {
            EXPECT_GT(r.line, 0);
            EXPECT_TRUE(r.kind == Rule::Kind::Any || !r.name.empty());
            EXPECT_TRUE(!r.negated || r.options.empty());
        }
        for (const Diagnostic& diag : d) EXPECT_FALSE(diag.message.empty());
        ASSERT_NO_THROW(p.match("joseph", {"staff"}));
        UserOptIn u;
        ASSERT_NO_THROW(u = parse_user_opt_in(text, "fuzz", d));
    }
}

}  // namespace
}  // namespace pershome::config
