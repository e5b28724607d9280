#include "config/persistent_homes.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/temp_dir.hpp"

namespace pershome::config {
namespace {

using test::TempDir;
using Groups = std::vector<std::string>;

PersistentHomes parse(std::string_view text, Diagnostics& d) {
    return parse_persistent_homes(text, "/etc/ltsp/persistent_homes", d);
}

// The one diagnostic `text` must produce, as str().
std::string only_diagnostic(std::string_view text, std::size_t expected_rules = 0) {
    Diagnostics d;
    PersistentHomes p = parse(text, d);
    EXPECT_EQ(p.rules.size(), expected_rules) << text;
    if (d.size() != 1) {
        ADD_FAILURE() << d.size() << " diagnostics for: " << text;
        return "";
    }
    return d[0].str();
}

TEST(PersistentHomes, EmptyFile) {
    Diagnostics d;
    PersistentHomes p = parse("", d);
    EXPECT_TRUE(p.rules.empty());
    EXPECT_TRUE(d.empty());
    EXPECT_EQ(p.match("joseph", {"users"}), nullptr);
    EXPECT_EQ(p.file, "/etc/ltsp/persistent_homes");
}

TEST(PersistentHomes, CommentsOnly) {
    Diagnostics d;
    EXPECT_TRUE(parse("# nothing\n   # indented\n\n", d).rules.empty());
    EXPECT_TRUE(d.empty());
}

TEST(PersistentHomes, SubjectsAndOptions) {
    Diagnostics d;
    PersistentHomes p = parse(
        "joseph stick=label:JOSEPH fallback=deny\n"
        "@journalism flush=10\n"
        "!@patrons\n"
        "!guest\n"
        "*\n",
        d);
    EXPECT_TRUE(d.empty()) << d[0].str();
    ASSERT_EQ(p.rules.size(), 5u);

    EXPECT_EQ(p.rules[0].kind, Rule::Kind::User);
    EXPECT_FALSE(p.rules[0].negated);
    EXPECT_EQ(p.rules[0].name, "joseph");
    EXPECT_EQ(p.rules[0].line, 1);
    EXPECT_EQ(p.rules[0].options.stick->str(), "label:JOSEPH");
    EXPECT_EQ(p.rules[0].options.fallback, Fallback::Deny);
    EXPECT_FALSE(p.rules[0].options.flush);

    EXPECT_EQ(p.rules[1].kind, Rule::Kind::Group);
    EXPECT_EQ(p.rules[1].name, "journalism");
    EXPECT_EQ(p.rules[1].options.flush, std::chrono::seconds(10));
    EXPECT_EQ(p.rules[1].subject(), "@journalism");

    EXPECT_EQ(p.rules[2].kind, Rule::Kind::Group);
    EXPECT_TRUE(p.rules[2].negated);
    EXPECT_EQ(p.rules[2].name, "patrons");
    EXPECT_EQ(p.rules[2].subject(), "!@patrons");

    EXPECT_EQ(p.rules[3].kind, Rule::Kind::User);
    EXPECT_TRUE(p.rules[3].negated);
    EXPECT_EQ(p.rules[3].subject(), "!guest");

    EXPECT_EQ(p.rules[4].kind, Rule::Kind::Any);
    EXPECT_EQ(p.rules[4].subject(), "*");
    EXPECT_EQ(p.rules[4].line, 5);
}

TEST(PersistentHomes, FirstMatchWins) {
    Diagnostics d;
    PersistentHomes p = parse(
        "!guest\n"               // 1
        "joseph flush=1\n"       // 2
        "@journalism flush=2\n"  // 3
        "!@patrons\n"            // 4
        "@staff flush=4\n"       // 5
        "*\n",                   // 6
        d);
    ASSERT_TRUE(d.empty());
    auto line_for = [&](std::string_view user, const Groups& groups) {
        const Rule* r = p.match(user, groups);
        return r ? r->line : 0;
    };
    EXPECT_EQ(line_for("guest", {"journalism"}), 1);
    EXPECT_EQ(line_for("joseph", {"patrons"}), 2);
    EXPECT_EQ(line_for("anna", {"users", "journalism", "patrons"}), 3);
    EXPECT_EQ(line_for("bob", {"patrons", "staff"}), 4);
    EXPECT_TRUE(p.match("bob", {"patrons", "staff"})->negated);
    EXPECT_EQ(line_for("carol", {"staff"}), 5);
    EXPECT_EQ(line_for("dave", {}), 6);
}

TEST(PersistentHomes, NoMatchWithoutCatchAll) {
    Diagnostics d;
    PersistentHomes p = parse("joseph\n@staff\n", d);
    EXPECT_EQ(p.match("josephine", {"staffers"}), nullptr);
    EXPECT_EQ(p.match("Joseph", {}), nullptr);  // names are case-sensitive
    EXPECT_NE(p.match("x", {"staff"}), nullptr);
}

TEST(PersistentHomes, UserNamedLikeGroupIsNotTheGroup) {
    Diagnostics d;
    PersistentHomes p = parse("@staff\n", d);
    EXPECT_EQ(p.match("staff", {}), nullptr);
}

TEST(PersistentHomes, NegatedAny) {
    Diagnostics d;
    PersistentHomes p = parse("joseph\n!*\n", d);
    EXPECT_TRUE(d.empty());
    EXPECT_FALSE(p.match("joseph", {})->negated);
    EXPECT_TRUE(p.match("anyone", {})->negated);
    EXPECT_EQ(p.rules[1].subject(), "!*");
}

TEST(PersistentHomes, QuotedLabelAndTrailingComment) {
    Diagnostics d;
    PersistentHomes p = parse("@staff  stick=\"label:USB DISK\"   # the shop's default label\n", d);
    EXPECT_TRUE(d.empty());
    ASSERT_EQ(p.rules.size(), 1u);
    EXPECT_EQ(p.rules[0].options.stick->value, "USB DISK");
}

TEST(PersistentHomes, CrlfFile) {
    Diagnostics d;
    PersistentHomes p = parse("# made on Windows\r\njoseph stick=any\r\n@staff\r\n", d);
    EXPECT_TRUE(d.empty());
    ASSERT_EQ(p.rules.size(), 2u);
    EXPECT_EQ(p.rules[1].name, "staff");
    EXPECT_EQ(p.rules[1].line, 3);
}

TEST(PersistentHomes, BadLinesAreSkippedOthersKept) {
    Diagnostics d;
    PersistentHomes p = parse(
        "joseph\n"
        "anna colour=blue\n"
        "@\n"
        "bob\n",
        d);
    ASSERT_EQ(p.rules.size(), 2u);
    EXPECT_EQ(p.rules[0].name, "joseph");
    EXPECT_EQ(p.rules[1].name, "bob");
    EXPECT_EQ(p.rules[1].line, 4);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0].line, 2);
    EXPECT_EQ(d[1].line, 3);
    EXPECT_EQ(p.match("anna", {}), nullptr);
}

TEST(PersistentHomes, EveryDiagnostic) {
    const std::string f = "/etc/ltsp/persistent_homes:";
    EXPECT_EQ(only_diagnostic("\n\njoseph foo=bar\n"),
              f + "3: unknown option \"foo\" (known: stick, fallback, flush); line ignored");
    EXPECT_EQ(only_diagnostic("joseph stick=usb\n"),
              f + "1: bad value \"usb\" for stick (expected any, label:NAME or uuid:XXXX-XXXX); "
                  "line ignored");
    EXPECT_EQ(
        only_diagnostic("joseph fallback=maybe\n"),
        f + "1: bad value \"maybe\" for fallback (expected tmphome, deny or none); line ignored");
    EXPECT_EQ(only_diagnostic("joseph flush=forever\n"),
              f + "1: bad value \"forever\" for flush (expected whole seconds from 0 to 3600); "
                  "line ignored");
    EXPECT_EQ(only_diagnostic("joseph flush=1 flush=2\n"),
              f + "1: option \"flush\" given twice; the first one counts; line ignored");
    EXPECT_EQ(only_diagnostic("joseph stick\n"),
              f + "1: option \"stick\" needs a value: stick=...; line ignored");
    EXPECT_EQ(only_diagnostic("joseph persistent\n"),
              f + "1: unexpected \"persistent\" (options are written key=value); line ignored");
    EXPECT_EQ(only_diagnostic("@\n"), f + "1: empty group name after \"@\"; line ignored");
    EXPECT_EQ(only_diagnostic("!\n"),
              f + "1: \"!\" must be followed by a user, @group or *; line ignored");
    EXPECT_EQ(only_diagnostic("!@\n"), f + "1: empty group name after \"@\"; line ignored");
    EXPECT_EQ(
        only_diagnostic("jo/seph\n"),
        f + "1: bad user name \"jo/seph\": character \"/\" is not allowed in a name; line ignored");
    EXPECT_EQ(only_diagnostic("-joseph\n"),
              f + "1: bad user name \"-joseph\": a name must not start with \"-\"; line ignored");
    EXPECT_EQ(
        only_diagnostic("@sta:ff\n"),
        f + "1: bad group name \"sta:ff\": character \":\" is not allowed in a name; line ignored");
    EXPECT_EQ(
        only_diagnostic("@@staff\n"),
        f + "1: bad group name \"@staff\": character \"@\" is not allowed in a name; line ignored");
    EXPECT_EQ(
        only_diagnostic("**\n"),
        f + "1: bad user name \"**\": character \"*\" is not allowed in a name; line ignored");
    EXPECT_EQ(only_diagnostic("\"\"\n"), f + "1: bad user name \"\": empty name; line ignored");
    EXPECT_EQ(only_diagnostic(std::string(256, 'a') + "\n"),
              f + "1: bad user name \"" + std::string(64, 'a') +
                  "...\": name longer than 255 bytes; line ignored");
    EXPECT_EQ(only_diagnostic("joseph \"stick=any\n"),
              f + "1: unterminated quote starting in column 8; line ignored");
    EXPECT_EQ(only_diagnostic(std::string("jo\0seph\n", 8)),
              f + "1: control byte 0x00 in column 3; line ignored");
    EXPECT_EQ(only_diagnostic("joseph " + std::string(5000, 'x') + "\n"),
              f + "1: line is longer than 4096 bytes; ignored");
}

TEST(PersistentHomes, OptionsOnNegatedRuleAreDroppedButExclusionKept) {
    Diagnostics d;
    PersistentHomes p = parse("!guest stick=any\n*\n", d);
    ASSERT_EQ(p.rules.size(), 2u);
    EXPECT_TRUE(p.rules[0].negated);
    EXPECT_TRUE(p.rules[0].options.empty());
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].severity, Severity::Warning);
    EXPECT_EQ(d[0].str(),
              "/etc/ltsp/persistent_homes:1: warning: options on a negated rule mean nothing "
              "and are ignored");
    EXPECT_TRUE(p.match("guest", {})->negated);
}

TEST(PersistentHomes, BadOptionOnNegatedRuleIsStillAnError) {
    EXPECT_EQ(only_diagnostic("!guest bogus=1\n"),
              "/etc/ltsp/persistent_homes:1: unknown option \"bogus\" (known: stick, fallback, "
              "flush); line ignored");
}

TEST(PersistentHomes, UnreachableRulesWarned) {
    Diagnostics d;
    PersistentHomes p = parse("joseph\n@staff\n!joseph\n*\nanna\n!@staff\n", d);
    EXPECT_EQ(p.rules.size(), 6u);  // kept: a warning, not an error
    ASSERT_EQ(d.size(), 3u);
    for (const auto& diag : d) EXPECT_EQ(diag.severity, Severity::Warning);
    EXPECT_EQ(d[0].str(),
              "/etc/ltsp/persistent_homes:3: warning: rule \"!joseph\" is never used: line 1 "
              "(\"joseph\") already decides for the same subject");
    EXPECT_EQ(d[1].line, 5);
    EXPECT_NE(d[1].message.find("line 4 (\"*\") already decides for every user"), std::string::npos)
        << d[1].message;
    EXPECT_EQ(d[2].line, 6);
}

TEST(PersistentHomes, GarbageBytes) {
    Diagnostics d;
    std::string garbage;
    for (int i = 0; i < 256; ++i) garbage += static_cast<char>(i);
    garbage += "\n\xff\xfe\xfd\n\x80\x81 stick=any\njoseph\n";
    PersistentHomes p = parse(garbage, d);
    // Only "joseph" survives; every other line is reported, nothing throws.
    ASSERT_EQ(p.rules.size(), 1u);
    EXPECT_EQ(p.rules[0].name, "joseph");
    EXPECT_GE(d.size(), 3u);
    for (const auto& diag : d) {
        EXPECT_EQ(diag.severity, Severity::Error);
        EXPECT_GT(diag.line, 0);
    }
}

TEST(PersistentHomes, DiagnosticsAreCapped) {
    Diagnostics d;
    std::string text;
    for (int i = 0; i < 500; ++i) text += "bad/name\njoseph" + std::to_string(i) + "\n";
    PersistentHomes p = parse(text, d);
    EXPECT_EQ(p.rules.size(), 500u);
    ASSERT_EQ(d.size(), kMaxPersistentHomesDiagnostics + 1);
    EXPECT_EQ(d[0].line, 1);
    EXPECT_EQ(d[99].line, 199);
    EXPECT_EQ(d.back().str(), "/etc/ltsp/persistent_homes: 400 more problems not shown");
}

TEST(PersistentHomes, HugeFileKeepsLinesBeforeCap) {
    Diagnostics d;
    std::string text;
    int lines = 0;
    while (text.size() < 1024 * 1024 + 100) {
        text += "user" + std::to_string(lines++) + "\n";
    }
    PersistentHomes p = parse(text, d);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_NE(d[0].message.find("file is larger than 1048576 bytes"), std::string::npos);
    EXPECT_EQ(static_cast<int>(p.rules.size()), d[0].line - 1);
    EXPECT_LT(p.rules.size(), static_cast<std::size_t>(lines));
    EXPECT_GT(p.rules.size(), 100000u);
}

TEST(PersistentHomes, LoadMissingFileIsNoRulesNoDiagnostic) {
    TempDir dir;
    Diagnostics d;
    PersistentHomes p = load_persistent_homes((dir.path() / "nope").string(), d);
    EXPECT_TRUE(p.rules.empty());
    EXPECT_TRUE(d.empty());
}

TEST(PersistentHomes, LoadReadsFileAndNamesItInDiagnostics) {
    TempDir dir;
    std::string path = dir.write("persistent_homes", "joseph\nbad!name\n");
    Diagnostics d;
    PersistentHomes p = load_persistent_homes(path, d);
    EXPECT_EQ(p.file, path);
    ASSERT_EQ(p.rules.size(), 1u);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].file, path);
    EXPECT_EQ(d[0].line, 2);
}

TEST(PersistentHomes, LoadDirectoryIsADiagnostic) {
    TempDir dir;
    Diagnostics d;
    PersistentHomes p = load_persistent_homes(dir.path().string(), d);
    EXPECT_TRUE(p.rules.empty());
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].line, 0);
    EXPECT_EQ(d[0].message, "cannot read: Is a directory; no persistent homes from this file");
}

TEST(PersistentHomes, LoadFifoDoesNotBlock) {
    TempDir dir;
    std::string path = (dir.path() / "fifo").string();
    ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
    Diagnostics d;
    EXPECT_TRUE(load_persistent_homes(path, d).rules.empty());
    ASSERT_EQ(d.size(), 1u);
    EXPECT_NE(d[0].message.find("not a regular file"), std::string::npos);
}

TEST(PersistentHomes, LoadHugeFileReadsOnlyTheCap) {
    TempDir dir;
    std::string text = "joseph\n" + std::string(3 * 1024 * 1024, '#') + "\nanna\n";
    std::string path = dir.write("big", text);
    Diagnostics d;
    PersistentHomes p = load_persistent_homes(path, d);
    ASSERT_EQ(p.rules.size(), 1u);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].line, 2);
    EXPECT_NE(d[0].message.find("larger than"), std::string::npos);
}

TEST(PersistentHomes, ShippedExampleHasNoDiagnostics) {
    Diagnostics d;
    PersistentHomes p =
        load_persistent_homes(PERSHOME_SOURCE_DIR "/config/persistent_homes.example", d);
    EXPECT_TRUE(d.empty()) << d[0].str();
    EXPECT_TRUE(p.rules.empty());  // every example is commented out

    // ... and every commented-out example is itself a valid rule.
    std::ifstream in(PERSHOME_SOURCE_DIR "/config/persistent_homes.example");
    std::string line, uncommented;
    while (std::getline(in, line)) {
        if (line.size() > 1 && line[0] == '#' && line[1] != ' ' && line[1] != '#') {
            uncommented += line.substr(1) + "\n";
        }
    }
    PersistentHomes q = parse(uncommented, d);
    EXPECT_TRUE(d.empty()) << d[0].str();
    EXPECT_EQ(q.rules.size(), 5u);
}

}  // namespace
}  // namespace pershome::config
