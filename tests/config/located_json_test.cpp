#include "config/located_json.hpp"

#include <gtest/gtest.h>

#include "config/config_error.hpp"
#include "config/text_position.hpp"

namespace pershome::config {
namespace {

ConfigError error_of(std::string_view text) {
    try {
        parse_located_json(text, "f.json");
    } catch (const ConfigError& e) {
        return e;
    }
    ADD_FAILURE() << "no error for: " << text;
    return ConfigError("none", "none");
}

TEST(TextPosition, CountsLinesAndColumns) {
    std::string_view t = "ab\ncd\n\nx";
    EXPECT_EQ(position_of(t, 0).line, 1);
    EXPECT_EQ(position_of(t, 0).column, 1);
    EXPECT_EQ(position_of(t, 2).line, 1);  // the newline belongs to its line
    EXPECT_EQ(position_of(t, 2).column, 3);
    EXPECT_EQ(position_of(t, 3).line, 2);
    EXPECT_EQ(position_of(t, 4).column, 2);
    EXPECT_EQ(position_of(t, 7).line, 4);
    EXPECT_EQ(position_of(t, 100).line, 4);  // clamped
}

TEST(TextPosition, LineCounterMovesBothWays) {
    std::string_view t = "a\nb\nc\nd";
    LineCounter lines(t);
    EXPECT_EQ(lines.line_at(0), 1);
    EXPECT_EQ(lines.line_at(6), 4);
    EXPECT_EQ(lines.line_at(2), 2);
    EXPECT_EQ(lines.line_at(1), 1);  // the newline belongs to its line
    EXPECT_EQ(lines.line_at(5), 3);
    EXPECT_EQ(lines.line_at(99), 4);
    for (std::size_t i = 0; i < t.size(); ++i) EXPECT_EQ(lines.line_at(i), position_of(t, i).line);
}

TEST(LocatedJson, RecordsKeyAndElementLines) {
    auto doc = parse_located_json(
        "{\n  \"a\": 1,\n\n  \"b\": [\n    \"x\",\n    2\n  ],\n  \"c\":\n 5 }", "f");
    EXPECT_EQ(doc.line_of("/a"), 2);
    EXPECT_EQ(doc.line_of("/b"), 4);
    EXPECT_EQ(doc.line_of("/b/0"), 5);
    EXPECT_EQ(doc.line_of("/b/1"), 6);  // a number is read one byte past its end
    EXPECT_EQ(doc.line_of("/c"), 8);    // members are located by their key
    EXPECT_EQ(doc.value["b"][1], 2);
    EXPECT_EQ(doc.line_of("/nope"), 0);
}

TEST(LocatedJson, KeepsMemberOrder) {
    auto doc = parse_located_json(R"({"z": 1, "a": 2, "m": 3})", "f");
    std::string order;
    for (const auto& [k, v] : doc.value.items()) order += k;
    EXPECT_EQ(order, "zam");
}

TEST(LocatedJson, NestedObjectsAndEscapedPointers) {
    auto doc = parse_located_json("{\"o\": {\n\"a/b~\": {\"c\": [[1], {}]}}}", "f");
    EXPECT_EQ(doc.line_of("/o"), 1);
    EXPECT_EQ(doc.line_of("/o/a~1b~0"), 2);
    EXPECT_EQ(doc.value["o"]["a/b~"]["c"][0][0], 1);
}

TEST(LocatedJson, EmptyAndCommentOnlyInputIsEmptyObject) {
    for (std::string_view t : {"", "   \n\t ", "// nothing here\n", "/* a */ /* b */"}) {
        auto doc = parse_located_json(t, "f");
        EXPECT_TRUE(doc.value.is_object()) << t;
        EXPECT_TRUE(doc.value.empty()) << t;
    }
}

TEST(LocatedJson, SyntaxErrorLineAndColumn) {
    auto e = error_of("{\n\"a\": 1,\n\"b\" 2}");
    EXPECT_EQ(e.file, "f.json");
    EXPECT_EQ(e.line, 3);
    EXPECT_EQ(e.column, 5);
    EXPECT_NE(e.message.find("expected ':'"), std::string::npos) << e.message;
    EXPECT_EQ(e.message.find("json.exception"), std::string::npos) << e.message;
    EXPECT_EQ(std::string(e.what()).rfind("f.json:3:5: ", 0), 0u) << e.what();
}

TEST(LocatedJson, SyntaxErrorTrailingComma) {
    auto e = error_of("{\n  \"a\": 1,\n}\n");
    EXPECT_EQ(e.line, 3);
    EXPECT_EQ(e.column, 1);
}

TEST(LocatedJson, NewlineInsideStringIsBlamedOnItsOwnLine) {
    auto e = error_of("{\"a\":\n\"x\n\"}");
    EXPECT_EQ(e.line, 2);
    EXPECT_EQ(e.column, 3);
}

TEST(LocatedJson, UnterminatedCommentIsAnError) {
    auto e = error_of("{} /* x");
    EXPECT_EQ(e.line, 1);
    EXPECT_NE(e.message.find("comment"), std::string::npos) << e.message;
}

TEST(LocatedJson, TrailingGarbage) {
    auto e = error_of("{\"a\": 1}\n]");
    EXPECT_EQ(e.line, 2);
    EXPECT_EQ(e.column, 1);
}

TEST(LocatedJson, TruncatedDocument) {
    auto e = error_of("{\"a\": [1, 2");
    EXPECT_EQ(e.line, 1);
    EXPECT_NE(e.message.find("end of input"), std::string::npos) << e.message;
}

TEST(LocatedJson, DuplicateKeyNamesBothLines) {
    auto e = error_of("{\n\"a\": 1,\n\"b\": 2,\n\"a\": 3}");
    EXPECT_EQ(e.line, 4);
    EXPECT_EQ(e.column, 0);
    EXPECT_NE(e.message.find("duplicate key \"a\""), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("line 2"), std::string::npos) << e.message;
}

TEST(LocatedJson, SameKeyInDifferentObjectsIsFine) {
    auto doc = parse_located_json(R"({"a": {"x": 1}, "b": {"x": 2}})", "f");
    EXPECT_EQ(doc.value["b"]["x"], 2);
}

TEST(LocatedJson, DuplicateKeyInNestedObject) {
    auto e = error_of("{\"a\": {\"x\": 1,\n \"x\": 2}}");
    EXPECT_EQ(e.line, 2);
}

TEST(LocatedJson, LongDuplicateKeyIsCutInMessage) {
    std::string key(1000, 'k');
    auto e = error_of("{\"" + key + "\": 1, \"" + key + "\": 2}");
    EXPECT_LT(e.message.size(), 200u) << e.message;
}

TEST(LocatedJson, AbsurdNestingIsRefused) {
    std::string deep(1000, '[');
    deep += std::string(1000, ']');
    auto e = error_of(deep);
    EXPECT_NE(e.message.find("nesting"), std::string::npos) << e.message;
}

TEST(LocatedJson, InvalidUtf8IsRefused) {
    auto e = error_of("{\"a\": \"\xff\"}");
    EXPECT_EQ(e.line, 1);
}

TEST(LocatedJson, ByteOrderMarkIsSkipped) {
    auto doc = parse_located_json("\xEF\xBB\xBF{\"a\": true}", "f");
    EXPECT_EQ(doc.value["a"], true);
}

}  // namespace
}  // namespace pershome::config

namespace pershome::config {
namespace {

TEST(LocatedJson, OutOfPlaceTokenIsLocatedAtItsStart) {
    auto e = error_of("{\n  \"a\": \"x\"\n  \"b\\\"q\": 2\n}");
    EXPECT_EQ(e.line, 3);
    EXPECT_EQ(e.column, 3);
    auto n = error_of("{\"a\": 1 12345}");
    EXPECT_EQ(n.column, 9);
}

}  // namespace
}  // namespace pershome::config
