#include "config/home_decision.hpp"

#include <gtest/gtest.h>

namespace pershome::config {
namespace {

PersistentHomes rules(std::string_view text) {
    Diagnostics d;
    PersistentHomes p = parse_persistent_homes(text, "/etc/ltsp/persistent_homes", d);
    EXPECT_TRUE(d.empty()) << d[0].str();
    return p;
}

UserOptIn opt_in(std::string_view text) {
    Diagnostics d;
    UserOptIn u = parse_user_opt_in(text, "/home/joe/.persistent_home", d);
    EXPECT_TRUE(d.empty()) << d[0].str();
    return u;
}

TEST(HomeDecision, NoRuleNoOptIn) {
    HomeDecision h = decide_home(rules("anna\n"), "joe", {"users"}, nullptr);
    EXPECT_FALSE(h.persistent);
    EXPECT_EQ(h.reason, "no rule and no opt-in");
}

TEST(HomeDecision, AdminRuleWithDefaults) {
    HomeDecision h = decide_home(rules("# c\n@users\n"), "joe", {"users"}, nullptr);
    EXPECT_TRUE(h.persistent);
    EXPECT_EQ(h.options, HomeOptions{});
    EXPECT_EQ(h.reason, "/etc/ltsp/persistent_homes:2: @users");
}

TEST(HomeDecision, AdminRuleOptions) {
    HomeDecision h =
        decide_home(rules("joe stick=uuid:1234-abcd fallback=none flush=0\n"), "joe", {}, nullptr);
    ASSERT_TRUE(h.persistent);
    EXPECT_EQ(h.options.str(), "stick=uuid:1234-ABCD fallback=none flush=0");
}

TEST(HomeDecision, NegatedRuleShutsOutOptIn) {
    UserOptIn u = opt_in("");
    HomeDecision h = decide_home(rules("!@patrons\n*\n"), "joe", {"patrons"}, &u);
    EXPECT_FALSE(h.persistent);
    EXPECT_EQ(h.reason, "/etc/ltsp/persistent_homes:1: !@patrons");
}

TEST(HomeDecision, OptInWithoutRule) {
    UserOptIn u = opt_in("stick=label:JOE flush=30\n");
    HomeDecision h = decide_home(rules("anna\n"), "joe", {}, &u);
    ASSERT_TRUE(h.persistent);
    EXPECT_EQ(h.options.str(), "stick=label:JOE fallback=tmphome flush=30");
    EXPECT_EQ(h.reason, "/home/joe/.persistent_home");
}

TEST(HomeDecision, EmptyOptInWithoutRuleIsDefaults) {
    UserOptIn u = opt_in("");
    HomeDecision h = decide_home(rules(""), "joe", {}, &u);
    ASSERT_TRUE(h.persistent);
    EXPECT_EQ(h.options, HomeOptions{});
}

TEST(HomeDecision, AdminSetOptionsCannotBeChangedByUser) {
    UserOptIn u = opt_in("stick=any fallback=none flush=1\n");
    HomeDecision h = decide_home(rules("joe stick=label:LAB fallback=deny\n"), "joe", {}, &u);
    ASSERT_TRUE(h.persistent);
    EXPECT_EQ(h.options.stick.str(), "label:LAB");
    EXPECT_EQ(h.options.fallback, Fallback::Deny);
    EXPECT_EQ(h.options.flush, std::chrono::seconds(1));  // the admin left it open
    EXPECT_EQ(h.reason, "/etc/ltsp/persistent_homes:1: joe + /home/joe/.persistent_home");
}

TEST(HomeDecision, OptInForAnotherUserDoesNotMatterToRules) {
    HomeDecision h = decide_home(rules("!joe\n"), "anna", {}, nullptr);
    EXPECT_FALSE(h.persistent);
    EXPECT_EQ(h.reason, "no rule and no opt-in");
}

}  // namespace
}  // namespace pershome::config
