// What pershomectl's tables do with text from sticks and users: control
// characters shown, never sent to the terminal; columns aligned by what a
// terminal shows, not by bytes; findings of pershome-fs --check in words.
#include <gtest/gtest.h>

#include "ctl/check_command.hpp"
#include "ctl/table.hpp"

namespace pershome::ctl {
namespace {

TEST(TerminalText, ControlCharactersAreShownNotSent) {
    EXPECT_EQ(terminal_text("TERM\x1b[2J07"), "TERM\\x1b[2J07");
    EXPECT_EQ(terminal_text("a\tb\nc\x7f"), "a\\x09b\\x0ac\\x7f");
    EXPECT_EQ(terminal_text("csi\xc2\x9b"
                            "31m"),
              "csi\\u009b31m");                                          // C1 CSI, as UTF-8
    EXPECT_EQ(terminal_text("Zoë's stick \\x01"), "Zoë's stick \\x01");  // as pershomed sent it
}

TEST(Table, ColumnsAlignByCharactersNotBytes) {
    Table t({"LABEL", "STATE"});
    t.add({"Zoë", "idle"});
    t.add({"JOSEPH", "in-use"});
    EXPECT_EQ(t.render(),
              "LABEL   STATE\n"
              "Zoë     idle\n"
              "JOSEPH  in-use\n");
}

TEST(Table, SizesAndTimes) {
    EXPECT_EQ(human_size(512), "512 B");
    EXPECT_EQ(human_size(16ull << 20), "16.0 MiB");
    EXPECT_EQ(human_size(7'500'000'000ull), "7.0 GiB");
    EXPECT_EQ(human_time(0), "-");
}

TEST(ExplainFinding, KnownFindingsInPlainWordsUnknownOnesAsTheyAre) {
    EXPECT_EQ(explain_finding("/docs: entry without backing file dropped: a.txt"),
              "/docs: a file was removed by another computer (entry without backing file "
              "dropped: a.txt)");
    EXPECT_EQ(explain_finding("/: something new"), "/: something new");
    EXPECT_EQ(explain_finding("/x\x1b: new backing file added: \x1b[2J"),
              "/x\\x1b: a file was added by another computer (new backing file added: "
              "\\x1b[2J)");
}

}  // namespace
}  // namespace pershome::ctl
