#include "config/config_lines.hpp"

#include <gtest/gtest.h>

namespace pershome::config {
namespace {

using Words = std::vector<std::string>;

std::vector<ConfigLine> split(std::string_view text, Diagnostics& d, LineLimits limits = {}) {
    return split_config_lines(text, "f", d, limits);
}

TEST(ConfigLines, WordsCommentsAndBlankLines) {
    Diagnostics d;
    auto lines = split("# header\n\n  joseph  stick=any\t flush=3 # trailing\n\t\n@x\n", d);
    EXPECT_TRUE(d.empty());
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0].number, 3);
    EXPECT_EQ(lines[0].words, (Words{"joseph", "stick=any", "flush=3"}));
    EXPECT_EQ(lines[1].number, 5);
    EXPECT_EQ(lines[1].words, Words{"@x"});
}

TEST(ConfigLines, HashInsideWordIsNotAComment) {
    Diagnostics d;
    auto lines = split("a#b c", d);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].words, (Words{"a#b", "c"}));
}

TEST(ConfigLines, Quotes) {
    Diagnostics d;
    auto lines =
        split(R"(x stick="label:USB DISK" stick=label:"A B" "" "q\"uote" "back\\slash" "a#b")", d);
    EXPECT_TRUE(d.empty());
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].words, (Words{"x", "stick=label:USB DISK", "stick=label:A B", "", "q\"uote",
                                     "back\\slash", "a#b"}));
}

TEST(ConfigLines, UnterminatedQuoteSkipsLine) {
    Diagnostics d;
    auto lines = split("ok\nbad \"open\nok2\n", d);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[1].number, 3);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].line, 2);
    EXPECT_EQ(d[0].severity, Severity::Error);
    EXPECT_EQ(d[0].str(), "f:2: unterminated quote starting in column 5; line ignored");
}

TEST(ConfigLines, CrlfTolerated) {
    Diagnostics d;
    auto lines = split("a b\r\n# c\r\n\r\nd\r\n", d);
    EXPECT_TRUE(d.empty());
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0].words, (Words{"a", "b"}));
    EXPECT_EQ(lines[1].words, Words{"d"});
    EXPECT_EQ(lines[1].number, 4);
}

TEST(ConfigLines, LoneCarriageReturnIsAControlByte) {
    Diagnostics d;
    auto lines = split("a\rb\n", d);
    EXPECT_TRUE(lines.empty());
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].message, "control byte 0x0d in column 2; line ignored");
}

TEST(ConfigLines, ControlBytesAndNul) {
    Diagnostics d;
    const char raw[] = "good\nb\0d\nx\x1by\nz\x7f\nfine\n";
    std::string text(raw, sizeof raw - 1);
    auto lines = split(text, d);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[1].number, 5);
    ASSERT_EQ(d.size(), 3u);
    EXPECT_EQ(d[0].str(), "f:2: control byte 0x00 in column 2; line ignored");
    EXPECT_EQ(d[1].str(), "f:3: control byte 0x1b in column 2; line ignored");
    EXPECT_EQ(d[2].str(), "f:4: control byte 0x7f in column 2; line ignored");
}

TEST(ConfigLines, ControlByteInCommentStillRejectsLine) {
    Diagnostics d;
    auto lines = split("# \x01\n", d);
    EXPECT_TRUE(lines.empty());
    EXPECT_EQ(d.size(), 1u);
}

TEST(ConfigLines, HighBytesAreNotControlBytes) {
    Diagnostics d;
    auto lines = split("# caf\xc3\xa9\nx stick=label:\xc3\xa9t\xc3\xa9\n", d);
    EXPECT_TRUE(d.empty());
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].words[1], "stick=label:\xc3\xa9t\xc3\xa9");
}

TEST(ConfigLines, LongLineSkipped) {
    Diagnostics d;
    std::string text = "a\n" + std::string(4097, 'x') + "\n" + std::string(4096, 'y') + "\nb";
    auto lines = split(text, d);
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[1].words[0].size(), 4096u);  // exactly at the limit is fine
    EXPECT_EQ(lines[2].number, 4);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].str(), "f:2: line is longer than 4096 bytes; ignored");
}

TEST(ConfigLines, CrDoesNotCountTowardsLineLimit) {
    Diagnostics d;
    auto lines = split(std::string(4096, 'y') + "\r\n", d);
    EXPECT_TRUE(d.empty());
    EXPECT_EQ(lines.size(), 1u);
}

TEST(ConfigLines, FileCapKeepsOnlyWholeLinesBeforeIt) {
    Diagnostics d;
    LineLimits limits;
    limits.max_file_bytes = 12;
    // "aaaa\nbbbb\n" is 10 bytes; "josephine" crosses the cap at byte 12.
    auto lines = split("aaaa\nbbbb\njosephine\nzzz\n", d, limits);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[1].words, Words{"bbbb"});
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].line, 3);
    EXPECT_EQ(d[0].message, "file is larger than 12 bytes; this line and all after it are ignored");
}

TEST(ConfigLines, FileExactlyAtCapIsWhole) {
    Diagnostics d;
    LineLimits limits;
    limits.max_file_bytes = 9;
    auto lines = split("aaaa\nbbbb", d, limits);
    EXPECT_TRUE(d.empty());
    EXPECT_EQ(lines.size(), 2u);
}

TEST(ConfigLines, ByteOrderMarkSkipped) {
    Diagnostics d;
    auto lines = split("\xEF\xBB\xBFjoseph\n", d);
    EXPECT_TRUE(d.empty());
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].words, Words{"joseph"});
}

TEST(ConfigLines, EmptyText) {
    Diagnostics d;
    EXPECT_TRUE(split("", d).empty());
    EXPECT_TRUE(split("\n\n\n", d).empty());
    EXPECT_TRUE(d.empty());
}

TEST(Diagnostic, Str) {
    EXPECT_EQ((Diagnostic{"f", 3, Severity::Error, "bad"}).str(), "f:3: bad");
    EXPECT_EQ((Diagnostic{"f", 3, Severity::Warning, "odd"}).str(), "f:3: warning: odd");
    EXPECT_EQ((Diagnostic{"f", 0, Severity::Error, "gone"}).str(), "f: gone");
}

}  // namespace
}  // namespace pershome::config
