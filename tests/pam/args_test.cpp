// Unit tests of pam_pershome.so's argument parser.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pam-shim/args.hpp"

namespace {

using pershome::pam::Diagnostic;
using pershome::pam::kDefaultTimeoutSeconds;
using pershome::pam::parse_args;
using pershome::pam::ParseResult;

ParseResult parse(std::vector<const char*> args) {
    return parse_args(static_cast<int>(args.size()), args.data());
}

bool has_warning(const ParseResult& r, const std::string& text) {
    for (auto& d : r.diagnostics)
        if (d.severity == Diagnostic::Severity::kWarning && d.text.find(text) != std::string::npos)
            return true;
    return false;
}

bool has_error(const ParseResult& r, const std::string& text) {
    for (auto& d : r.diagnostics)
        if (d.severity == Diagnostic::Severity::kError && d.text.find(text) != std::string::npos)
            return true;
    return false;
}

TEST(PamArgs, NoArgumentsGivesDefaults) {
    auto r = parse({});
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(r.diagnostics.empty());
    EXPECT_FALSE(r.options.tmphome);
    EXPECT_FALSE(r.options.skel);
    EXPECT_FALSE(r.options.umask);
    EXPECT_EQ(r.options.timeout_seconds, kDefaultTimeoutSeconds);
    EXPECT_EQ(r.options.timeout_seconds, 25u);
    EXPECT_FALSE(r.options.debug);
    EXPECT_FALSE(r.options.quiet);
    EXPECT_TRUE(parse_args(0, nullptr).ok());
}

TEST(PamArgs, TheSeedLine) {
    auto r = parse({"tmphome=/tmphome/", "skel=/etc/skel/", "umask=0077"});
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r.diagnostics.empty());
    EXPECT_EQ(r.options.tmphome, "/tmphome/");
    EXPECT_EQ(r.options.skel, "/etc/skel/");
    EXPECT_EQ(r.options.umask, 077u);
}

TEST(PamArgs, FlagsAndTimeout) {
    auto r = parse({"debug", "quiet", "timeout=7"});
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r.options.debug);
    EXPECT_TRUE(r.options.quiet);
    EXPECT_EQ(r.options.timeout_seconds, 7u);
    // A flag given twice is harmless.
    EXPECT_TRUE(parse({"debug", "debug"}).diagnostics.empty());
}

TEST(PamArgs, KeysMatchExactlyNotByPrefix) {
    // The seed compared 5 characters of "tmphome=": all of these were taken
    // for tmphome (with the value read from a fixed offset).
    for (const char* a : {"tmpho=/x", "tmphomeX=/x", "tmphome2=/x", "tmphomes=/x", "TMPHOME=/x",
                          "tmphome =/x", "skeleton=/x", "umask2=022", "timeouts=3"}) {
        auto r = parse({a});
        EXPECT_TRUE(r.ok()) << a;
        EXPECT_FALSE(r.options.tmphome) << a;
        EXPECT_FALSE(r.options.skel) << a;
        EXPECT_FALSE(r.options.umask) << a;
        EXPECT_EQ(r.options.timeout_seconds, kDefaultTimeoutSeconds) << a;
        EXPECT_TRUE(has_warning(r, std::string("unknown argument ") + a + " ignored")) << a;
    }
}

TEST(PamArgs, UnknownArgumentsAreWarnedAndIgnored) {
    auto r = parse({"use_first_pass", "debug=1", "tmphome=/tmphome/", ""});
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(has_warning(r, "unknown argument use_first_pass ignored"));
    EXPECT_TRUE(has_warning(r, "unknown argument debug=1 ignored"));
    EXPECT_FALSE(r.options.debug);
    EXPECT_EQ(r.options.tmphome, "/tmphome/");
}

TEST(PamArgs, KnownKeyWithoutValueIsAnError) {
    for (const char* a : {"tmphome", "skel", "umask", "timeout"}) {
        auto r = parse({a});
        EXPECT_FALSE(r.ok()) << a;
        EXPECT_TRUE(has_error(r, "needs a value")) << a;
    }
}

TEST(PamArgs, EmptyOrRelativePathsAreErrors) {
    auto r = parse({"tmphome="});
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(has_error(r, "tmphome= has an empty value"));
    EXPECT_FALSE(r.options.tmphome);
    r = parse({"skel="});
    EXPECT_FALSE(r.ok());
    r = parse({"tmphome=tmphome/"});
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(has_error(r, "tmphome=tmphome/ is not an absolute path"));
    r = parse({"skel=etc/skel"});
    EXPECT_FALSE(r.ok());
    // The value is everything after the first '=', kept as it is.
    r = parse({"tmphome=/a=b/"});
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.options.tmphome, "/a=b/");
}

TEST(PamArgs, RepeatedKeysAreErrors) {
    EXPECT_FALSE(parse({"tmphome=/a/", "tmphome=/b/"}).ok());
    EXPECT_FALSE(parse({"skel=/a", "skel=/a"}).ok());
    EXPECT_FALSE(parse({"umask=022", "umask=077"}).ok());
    EXPECT_FALSE(parse({"timeout=3", "timeout=4"}).ok());
}

TEST(PamArgs, UmaskValues) {
    struct Case {
        const char* arg;
        unsigned value;
    };
    for (auto c : {Case{"umask=0077", 077}, Case{"umask=077", 077}, Case{"umask=77", 077},
                   Case{"umask=0", 0}, Case{"umask=000", 0}, Case{"umask=0777", 0777},
                   Case{"umask=022", 022}, Case{"umask=00000022", 022}}) {
        auto r = parse({c.arg});
        ASSERT_TRUE(r.ok()) << c.arg;
        EXPECT_EQ(r.options.umask, c.value) << c.arg;
    }
    for (const char* a : {"umask=", "umask=0999", "umask=8", "umask=01000", "umask=1777",
                          "umask=-1", "umask=+22", "umask=0x22", "umask=22 ", "umask= 22",
                          "umask=0o22", "umask=99999999999999999999", "umask=u=rwx"}) {
        auto r = parse({a});
        EXPECT_FALSE(r.ok()) << a;
        EXPECT_FALSE(r.options.umask) << a;
        EXPECT_TRUE(has_error(r, "is not an octal umask between 0 and 0777")) << a;
    }
}

TEST(PamArgs, TimeoutValues) {
    EXPECT_EQ(parse({"timeout=1"}).options.timeout_seconds, 1u);
    EXPECT_EQ(parse({"timeout=30"}).options.timeout_seconds, 30u);
    EXPECT_EQ(parse({"timeout=3600"}).options.timeout_seconds, 3600u);
    EXPECT_EQ(parse({"timeout=007"}).options.timeout_seconds, 7u);  // decimal, not octal
    for (const char* a :
         {"timeout=", "timeout=0", "timeout=-5", "timeout=+5", "timeout=2.5", "timeout=5s",
          "timeout=3601", "timeout=99999999999999999999", "timeout= 5", "timeout=five"}) {
        auto r = parse({a});
        EXPECT_FALSE(r.ok()) << a;
        EXPECT_EQ(r.options.timeout_seconds, kDefaultTimeoutSeconds) << a;
        EXPECT_TRUE(has_error(r, "is not a whole number of seconds between 1 and 3600")) << a;
    }
}

TEST(PamArgs, ErrorsDoNotStopTheRestBeingRead) {
    // Every mistake of a line is reported at once, not one per login.
    auto r = parse({"umask=9", "timeout=0", "bogus", "debug"});
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.diagnostics.size(), 3u);
    EXPECT_TRUE(r.options.debug);
}

TEST(PamArgs, NullEntriesAreSkipped) {
    const char* args[] = {"debug", nullptr, "quiet"};
    auto r = parse_args(3, args);
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(r.options.debug);
    EXPECT_TRUE(r.options.quiet);
}

}  // namespace
