#include "config/home_options.hpp"

#include <gtest/gtest.h>

#include "config/names.hpp"

namespace pershome::config {
namespace {

std::optional<std::string> apply_word(std::string_view word, RuleOptions& o) {
    return apply_option(word, o);
}

TEST(HomeOptions, Defaults) {
    HomeOptions h;
    EXPECT_EQ(h.stick.kind, StickSelector::Kind::Any);
    EXPECT_EQ(h.fallback, Fallback::Tmphome);
    EXPECT_EQ(h.flush, std::chrono::seconds(5));
    EXPECT_EQ(h.str(), "stick=any fallback=tmphome flush=5");
}

TEST(HomeOptions, Stick) {
    RuleOptions o;
    EXPECT_EQ(apply_word("stick=label:JOSEPH", o), std::nullopt);
    ASSERT_TRUE(o.stick);
    EXPECT_EQ(o.stick->kind, StickSelector::Kind::Label);
    EXPECT_EQ(o.stick->value, "JOSEPH");
    EXPECT_EQ(o.stick->str(), "label:JOSEPH");

    RuleOptions u;
    EXPECT_EQ(apply_word("stick=uuid:1a2b-3C4d", u), std::nullopt);
    EXPECT_EQ(u.stick->kind, StickSelector::Kind::Uuid);
    EXPECT_EQ(u.stick->value, "1A2B-3C4D");

    RuleOptions a;
    EXPECT_EQ(apply_word("stick=any", a), std::nullopt);
    EXPECT_EQ(a.stick, StickSelector{});
}

TEST(HomeOptions, StickMatching) {
    StickSelector any;
    EXPECT_TRUE(any.matches("", ""));
    StickSelector label{StickSelector::Kind::Label, "Joseph"};
    EXPECT_TRUE(label.matches("JOSEPH", "1234-5678"));
    EXPECT_TRUE(label.matches("joseph", ""));
    EXPECT_FALSE(label.matches("JOSEPH2", ""));
    EXPECT_FALSE(label.matches("", "Joseph"));
    StickSelector uuid{StickSelector::Kind::Uuid, "1A2B-3C4D"};
    EXPECT_TRUE(uuid.matches("X", "1a2b-3c4d"));
    EXPECT_FALSE(uuid.matches("1A2B-3C4D", "FFFF-FFFF"));
}

TEST(HomeOptions, Fallback) {
    const std::pair<const char*, Fallback> cases[] = {
        {"tmphome", Fallback::Tmphome}, {"deny", Fallback::Deny}, {"none", Fallback::None}};
    for (auto [name, value] : cases) {
        RuleOptions o;
        EXPECT_EQ(apply_word(std::string("fallback=") + name, o), std::nullopt);
        EXPECT_EQ(o.fallback, value);
        EXPECT_EQ(to_string(value), name);
    }
}

TEST(HomeOptions, Flush) {
    RuleOptions o;
    EXPECT_EQ(apply_word("flush=0", o), std::nullopt);
    EXPECT_EQ(o.flush, std::chrono::seconds(0));
    RuleOptions m;
    EXPECT_EQ(apply_word("flush=3600", m), std::nullopt);
    EXPECT_EQ(m.flush, std::chrono::seconds(3600));
    RuleOptions z;
    EXPECT_EQ(apply_word("flush=007", z), std::nullopt);
    EXPECT_EQ(z.flush, std::chrono::seconds(7));
}

TEST(HomeOptions, Errors) {
    const std::pair<const char*, const char*> cases[] = {
        {"foo=1", "unknown option \"foo\" (known: stick, fallback, flush)"},
        {"=1", "unknown option \"\" (known: stick, fallback, flush)"},
        {"Stick=any", "unknown option \"Stick\" (known: stick, fallback, flush)"},
        {"bareword", "unexpected \"bareword\" (options are written key=value)"},
        {"stick", "option \"stick\" needs a value: stick=..."},
        {"stick=", "bad value \"\" for stick (expected any, label:NAME or uuid:XXXX-XXXX)"},
        {"stick=usb", "bad value \"usb\" for stick (expected any, label:NAME or uuid:XXXX-XXXX)"},
        {"stick=ANY", "bad value \"ANY\" for stick (expected any, label:NAME or uuid:XXXX-XXXX)"},
        {"stick=label:", "empty label in stick=label:"},
        {"stick=uuid:", "empty uuid in stick=uuid:"},
        {"stick=uuid:12G4-0000",
         "bad uuid \"12G4-0000\" in stick= (hex digits and \"-\", like 1A2B-3C4D)"},
        {"fallback=home", "bad value \"home\" for fallback (expected tmphome, deny or none)"},
        {"fallback=", "bad value \"\" for fallback (expected tmphome, deny or none)"},
        {"flush=", "bad value \"\" for flush (expected whole seconds from 0 to 3600)"},
        {"flush=-1", "bad value \"-1\" for flush (expected whole seconds from 0 to 3600)"},
        {"flush=3601", "bad value \"3601\" for flush (expected whole seconds from 0 to 3600)"},
        {"flush=5s", "bad value \"5s\" for flush (expected whole seconds from 0 to 3600)"},
        {"flush=1.5", "bad value \"1.5\" for flush (expected whole seconds from 0 to 3600)"},
        {"flush=99999999999999999999",
         "bad value \"99999999999999999999\" for flush (expected whole seconds from 0 to 3600)"},
    };
    for (auto [word, message] : cases) {
        RuleOptions o;
        auto err = apply_word(word, o);
        ASSERT_TRUE(err) << word;
        EXPECT_EQ(*err, message) << word;
        EXPECT_TRUE(o.empty()) << word;  // a bad word changes nothing
    }
}

TEST(HomeOptions, LongLabelRefused) {
    RuleOptions o;
    EXPECT_EQ(apply_word("stick=label:" + std::string(64, 'L'), o), std::nullopt);
    RuleOptions p;
    auto err = apply_word("stick=label:" + std::string(65, 'L'), p);
    ASSERT_TRUE(err);
    EXPECT_EQ(*err, "label longer than 64 bytes in stick=");
}

TEST(HomeOptions, RepeatedOptionKeepsFirst) {
    RuleOptions o;
    EXPECT_EQ(apply_word("flush=1", o), std::nullopt);
    auto err = apply_word("flush=2", o);
    ASSERT_TRUE(err);
    EXPECT_EQ(*err, "option \"flush\" given twice; the first one counts");
    EXPECT_EQ(o.flush, std::chrono::seconds(1));
}

TEST(HomeOptions, RuleOptionsStr) {
    RuleOptions o;
    EXPECT_EQ(o.str(), "");
    apply_word("flush=9", o);
    apply_word("stick=label:A B", o);
    EXPECT_EQ(o.str(), "stick=label:A B flush=9");
}

TEST(HomeOptions, ResolveAdminWinsUserFillsGaps) {
    RuleOptions admin, user;
    apply_word("stick=label:LAB", admin);
    apply_word("stick=label:MINE", user);
    apply_word("flush=60", user);
    apply_word("fallback=deny", user);
    HomeOptions h = resolve_options(admin, user);
    EXPECT_EQ(h.stick.str(), "label:LAB");
    EXPECT_EQ(h.flush, std::chrono::seconds(60));
    EXPECT_EQ(h.fallback, Fallback::Deny);

    EXPECT_EQ(resolve_options(RuleOptions{}, RuleOptions{}), HomeOptions{});
    apply_word("fallback=none", admin);
    EXPECT_EQ(resolve_options(admin, user).fallback, Fallback::None);
}

TEST(Names, Accepted) {
    for (std::string_view n : {"joseph", "J.Smith", "a", "_svc", "user_1-x", "100234",
                               "joe@example.org", "WS01$", "x.y"}) {
        EXPECT_EQ(name_problem(n), std::nullopt) << n;
    }
    EXPECT_EQ(name_problem(std::string(255, 'a')), std::nullopt);
}

TEST(Names, Refused) {
    const std::pair<std::string, const char*> cases[] = {
        {"", "empty name"},
        {".", "\".\" is not a name"},
        {"..", "\"..\" is not a name"},
        {"-x", "a name must not start with \"-\""},
        {"@x", "character \"@\" is not allowed in a name"},
        {"a$b", "character \"$\" is not allowed in a name"},
        {"a/b", "character \"/\" is not allowed in a name"},
        {"a:b", "character \":\" is not allowed in a name"},
        {"a b", "byte 0x20 is not allowed in a name"},
        {"caf\xc3\xa9", "byte 0xc3 is not allowed in a name"},
        {std::string(256, 'a'), "name longer than 255 bytes"},
    };
    for (const auto& [name, message] : cases) {
        auto why = name_problem(name);
        ASSERT_TRUE(why) << name;
        EXPECT_EQ(*why, message) << name;
    }
}

}  // namespace
}  // namespace pershome::config
