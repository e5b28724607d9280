#include "fs/name_codec.hpp"

#include <gtest/gtest.h>

#include <set>

namespace pershome::fs {
namespace {

TEST(PosixName, Validity) {
    EXPECT_TRUE(is_valid_posix_name("a"));
    EXPECT_TRUE(is_valid_posix_name(std::string(255, 'x')));
    EXPECT_FALSE(is_valid_posix_name(std::string(256, 'x')));
    EXPECT_FALSE(is_valid_posix_name(""));
    EXPECT_FALSE(is_valid_posix_name("."));
    EXPECT_FALSE(is_valid_posix_name(".."));
    EXPECT_TRUE(is_valid_posix_name("..."));
    EXPECT_FALSE(is_valid_posix_name("a/b"));
    EXPECT_FALSE(is_valid_posix_name(std::string("a\0b", 3)));
    EXPECT_TRUE(is_valid_posix_name("\xff\xfe"));
}

TEST(Utf16, Lengths) {
    EXPECT_EQ(utf16_length("abc"), 3u);
    EXPECT_EQ(utf16_length("\xc3\xa9"), 1u);          // é
    EXPECT_EQ(utf16_length("\xe2\x82\xac"), 1u);      // €
    EXPECT_EQ(utf16_length("\xf0\x9f\x98\x80"), 2u);  // emoji: surrogate pair
    EXPECT_FALSE(utf16_length("\xff"));
    EXPECT_FALSE(utf16_length("\xc0\xaf"));          // overlong '/'
    EXPECT_FALSE(utf16_length("\xed\xa0\x80"));      // surrogate
    EXPECT_FALSE(utf16_length("\xf4\x90\x80\x80"));  // > U+10FFFF
    EXPECT_FALSE(utf16_length("\xe2\x82"));          // truncated
}

TEST(DosNames, Reserved) {
    for (const char* n : {"CON", "con", "Con.txt", "aux.txt", "NUL", "prn.tar.gz", "COM1", "lpt9.x",
                          "CON .txt", "conin$"})
        EXPECT_TRUE(is_reserved_dos_name(n)) << n;
    for (const char* n : {"CONX", "COM0", "COM10", "LPT", "icon", "aux_", "xCON", ".con"})
        EXPECT_FALSE(is_reserved_dos_name(n)) << n;
}

TEST(FatCanHold, PlainNamesAreThemselves) {
    for (const char* n : {"Makefile", "makefile", "report.odt", "%41", ".bashrc", "a b", "a.b.c",
                          "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "x.y ", "~lock", "[x]", "a;b",
                          "a+b=c", "a,b", "#x#", "\x7f"}) {
        const bool want = std::string_view(n) != "x.y ";
        EXPECT_EQ(fat_can_hold(n), want) << n;
    }
}

TEST(FatCanHold, RefusesWhatFatCannotHold) {
    for (const char* n :
         {"a:b",     "what?", "x.",       "x ",           " x",           "a\\b", "a*b",
          "a\"b",    "a<b",   "a>b",      "a|b",          "tab\there",    "nl\n", "CON",
          "aux.txt", "COM3",  "\xff\xfe", "PERSHOME.IDX", "pershome.lnk", "..x.", "\xc3"})
        EXPECT_FALSE(fat_can_hold(n)) << n;
    EXPECT_TRUE(fat_can_hold(std::string(255, 'a')));
    // 128 two-unit characters: 256 UTF-16 units, over the long-name limit.
    std::string emoji;
    for (int i = 0; i < 60; ++i) emoji += "\xf0\x9f\x98\x80";
    EXPECT_TRUE(fat_can_hold(emoji));  // 240 bytes, 120 units
    std::string many;
    for (int i = 0; i < 127; ++i) many += "\xc3\xa9";  // 254 bytes, 127 units
    EXPECT_TRUE(fat_can_hold(many));
}

TEST(GeneratedName, AlwaysFatLegalAndRecognisable) {
    std::vector<std::string> inputs = {"a:b",
                                       "what?",
                                       "x.",
                                       "x ",
                                       " x",
                                       "CON",
                                       "aux.txt",
                                       "\xff\xfe.txt",
                                       "...",
                                       "..x",
                                       "Makefile",
                                       "?",
                                       std::string(255, 'z'),
                                       "a.\xff\xff",
                                       "tab\t.c",
                                       "PERSHOME.IDX",
                                       "\xc3\xa9t\xc3\xa9?.odt",
                                       "CON.t..",
                                       "aux.x.y?",
                                       "lpt1.tar.gz."};
    std::string all_bad;
    for (int c = 1; c < 256; ++c)
        if (c != '/') all_bad += static_cast<char>(c);
    inputs.push_back(all_bad.substr(0, 255));
    for (const auto& in : inputs) {
        for (std::uint32_t attempt = 0; attempt < 4; ++attempt) {
            const auto g = generated_name(in, attempt);
            EXPECT_TRUE(fat_can_hold(g)) << in << " -> " << g;
            EXPECT_LE(g.size(), 120u);
        }
    }
    EXPECT_EQ(generated_name("what?", 0).substr(0, 6), "what_~");
    EXPECT_EQ(generated_name("aux.txt", 0).substr(0, 4), "aux~");
    EXPECT_EQ(generated_name("aux.txt", 0).substr(12), ".txt");
    EXPECT_EQ(generated_name("a:b", 7), generated_name("a:b", 7));  // deterministic
    std::set<std::string> distinct;
    for (std::uint32_t a = 0; a < 100; ++a) distinct.insert(generated_name("a:b", a));
    EXPECT_EQ(distinct.size(), 100u);
    EXPECT_NE(generated_name("a:b", 0), generated_name("a?b", 0));
}

TEST(ShortNames, Recognised) {
    for (const char* n : {"README", "A.TXT", "PERSHO~1.X", "12345678.123", "A_B-C!", "$"})
        EXPECT_TRUE(is_83_name(n)) << n;
    for (const char* n : {"readme", "A.TXTX", "123456789", "A.", ".A", "A B", "A.B.C", "CON",
                          "AUX.TXT", "PERSHOME.IDX", "", "\xc3\xa9"})
        EXPECT_FALSE(is_83_name(n)) << n;
}

TEST(ShortNames, GeneratedAreShortAndDistinct) {
    std::set<std::string> seen;
    for (const char* n : {"Makefile", "makefile", "report.odt", "a:b", "CON", ".bashrc", "x.",
                          "caf\xc3\xa9.tar.gz", "\xff", "?"}) {
        for (std::uint32_t a = 0; a < 3; ++a) {
            const auto g = generated_name_83(n, a);
            EXPECT_TRUE(is_83_name(g)) << n << " -> " << g;
            EXPECT_TRUE(fat_can_hold(g)) << g;
            seen.insert(g);
        }
    }
    EXPECT_EQ(seen.size(), 30u);
    EXPECT_EQ(generated_name_83("report.odt", 0).substr(0, 2), "RE");
    EXPECT_EQ(generated_name_83("report.odt", 0).substr(8), ".ODT");
}

TEST(VfatAlias, BasisTailsAndExtensions) {
    EXPECT_TRUE(could_be_vfat_alias("G_25_~~1", "g_25_~1a2b3c4d"));
    EXPECT_TRUE(could_be_vfat_alias("G_25_~~9", "g_25_~1a2b3c4d"));
    EXPECT_TRUE(could_be_vfat_alias("G_1A2B~3", "g_25_~1a2b3c4d"));
    EXPECT_TRUE(could_be_vfat_alias("REPORT~1.TXT", "report 2024.txt"));
    EXPECT_TRUE(could_be_vfat_alias("A_B~1.JPE", "a+b.jpeg"));
    EXPECT_TRUE(could_be_vfat_alias("AB~1", "a b"));
    EXPECT_FALSE(could_be_vfat_alias("G_25_~~1", "h_25_~1a2b3c4d"));
    EXPECT_FALSE(could_be_vfat_alias("G_25_~~0", "g_25_~1a2b3c4d"));
    EXPECT_FALSE(could_be_vfat_alias("G_25_~~1.TXT", "g_25_~1a2b3c4d"));
    EXPECT_FALSE(could_be_vfat_alias("REPORT~1", "report 2024.txt"));
    EXPECT_FALSE(could_be_vfat_alias("G_ZZZZ~3", "g_25_~1a2b3c4d"));
    EXPECT_FALSE(could_be_vfat_alias("CAF~1", "caf\xc3\xa9 menu"));  // codepage-dependent
}

}  // namespace
}  // namespace pershome::fs
