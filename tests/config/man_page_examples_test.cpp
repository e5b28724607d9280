// The man pages' examples are what admins copy: they must parse cleanly.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "config/daemon_config.hpp"
#include "config/persistent_homes.hpp"
#include "config/user_opt_in.hpp"

namespace pershome::config {
namespace {

// The indented (code) blocks of one "# SECTION" of a Markdown man page.
std::vector<std::string> code_blocks(const std::string& page, const std::string& section) {
    std::ifstream in(std::string(PERSHOME_SOURCE_DIR "/docs/") + page);
    EXPECT_TRUE(in) << page;
    std::vector<std::string> blocks;
    std::string line, block;
    bool inside = false;
    auto flush = [&] {
        if (!block.empty()) blocks.push_back(block);
        block.clear();
    };
    while (std::getline(in, line)) {
        if (line.starts_with("# ")) {
            flush();
            inside = line == "# " + section;
            continue;
        }
        if (!inside) continue;
        if (line.starts_with("    ")) {
            block += line.substr(4) + "\n";
        } else if (!line.empty()) {
            flush();
        }
    }
    flush();
    return blocks;
}

TEST(ManPages, PersistentHomesExamplesParse) {
    int blocks = 0;
    for (const char* section : {"MATCHING", "EXAMPLES"}) {
        for (const std::string& block : code_blocks("persistent_homes.5.md", section)) {
            Diagnostics d;
            PersistentHomes p = parse_persistent_homes(block, "example", d);
            EXPECT_TRUE(d.empty()) << d[0].str() << "\nin:\n" << block;
            EXPECT_FALSE(p.rules.empty()) << block;
            ++blocks;
        }
    }
    EXPECT_GE(blocks, 4);
}

TEST(ManPages, UserOptInExampleParses) {
    auto blocks = code_blocks("persistent_homes.5.md", "THE USER'S OWN FILE");
    ASSERT_EQ(blocks.size(), 2u);  // the touch command, then the file
    Diagnostics d;
    UserOptIn u = parse_user_opt_in(blocks[1], "example", d);
    EXPECT_TRUE(d.empty()) << d[0].str();
    EXPECT_EQ(u.options.stick->str(), "label:JOSEPH");
}

TEST(ManPages, DaemonConfigExamplesParse) {
    auto blocks = code_blocks("pershomed.json.5.md", "EXAMPLES");
    ASSERT_EQ(blocks.size(), 2u);
    EXPECT_EQ(parse_daemon_config(blocks[0], "example"), DaemonConfig{});
    DaemonConfig c = parse_daemon_config(blocks[1], "example");
    EXPECT_EQ(c.tmphome_roots, std::vector<std::string>{"/tmphome"});
    EXPECT_EQ(c.log_level, LogLevel::Debug);
}

}  // namespace
}  // namespace pershome::config
