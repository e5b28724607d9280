#include "config/daemon_config.hpp"

#include <sys/stat.h>
#include <syslog.h>

#include <gtest/gtest.h>

#include <string>

#include "tests/support/temp_dir.hpp"

namespace pershome::config {
namespace {

using test::TempDir;

ConfigError error_of(std::string_view text, const std::string& file = "pershomed.json") {
    try {
        parse_daemon_config(text, file);
    } catch (const ConfigError& e) {
        return e;
    }
    ADD_FAILURE() << "accepted: " << text;
    return ConfigError("none", "none");
}

bool contains(const std::string& haystack, std::string_view needle) {
    return haystack.find(needle) != std::string::npos;
}

TEST(DaemonConfig, DefaultsFromEmptyObject) {
    DaemonConfig c = parse_daemon_config("{}", "f");
    EXPECT_EQ(c.state_dir, "/run/pershome");
    EXPECT_EQ(c.persistent_homes, "/etc/ltsp/persistent_homes");
    EXPECT_EQ(c.default_skel, "/etc/skel");
    EXPECT_EQ(c.log_level, LogLevel::Info);
    EXPECT_EQ(c.workers, 4);
    EXPECT_TRUE(c.tmphome_roots.empty());
    EXPECT_EQ(c.operation_timeout, std::chrono::seconds(120));
    EXPECT_EQ(c.pershome_fs, "/usr/bin/pershome-fs");
    EXPECT_EQ(c.stick_settle, std::chrono::milliseconds(3000));
    EXPECT_EQ(c.fsck_timeout, std::chrono::seconds(60));
    EXPECT_EQ(c.mount_timeout, std::chrono::seconds(30));
    EXPECT_EQ(c.logout_grace, std::chrono::seconds(5));
    EXPECT_EQ(c, DaemonConfig{});
}

TEST(DaemonConfig, StickKeys) {
    DaemonConfig c = parse_daemon_config(
        R"({"pershome_fs": "/opt/p//bin/pershome-fs", "stick_settle_ms": 0,
            "fsck_timeout_sec": 5, "mount_timeout_sec": 600, "logout_grace_sec": 0})",
        "f");
    EXPECT_EQ(c.pershome_fs, "/opt/p/bin/pershome-fs");
    EXPECT_EQ(c.stick_settle.count(), 0);
    EXPECT_EQ(c.fsck_timeout.count(), 5);
    EXPECT_EQ(c.mount_timeout.count(), 600);
    EXPECT_EQ(c.logout_grace.count(), 0);
    EXPECT_EQ(parse_daemon_config(dump_daemon_config(c), "dump"), c);
}

TEST(DaemonConfig, EmptyFileAndCommentsMeanDefaults) {
    EXPECT_EQ(parse_daemon_config("", "f"), DaemonConfig{});
    EXPECT_EQ(parse_daemon_config("\n  \n", "f"), DaemonConfig{});
    EXPECT_EQ(parse_daemon_config("// all defaults\n", "f"), DaemonConfig{});
}

TEST(DaemonConfig, EveryKeyIsRead) {
    DaemonConfig c = parse_daemon_config(R"({
        // comments are allowed
        "state_dir": "/run/ph",
        "persistent_homes": "/etc/ltsp/ph",
        "default_skel": "/etc/skel.lab",
        "log_level": "debug",
        "workers": 64,
        "tmphome_roots": ["/tmphome", "/srv/tmphome/"],
        "operation_timeout_sec": 3600 /* one hour */
    })",
                                         "f");
    EXPECT_EQ(c.state_dir, "/run/ph");
    EXPECT_EQ(c.persistent_homes, "/etc/ltsp/ph");
    EXPECT_EQ(c.default_skel, "/etc/skel.lab");
    EXPECT_EQ(c.log_level, LogLevel::Debug);
    EXPECT_EQ(c.workers, 64);
    EXPECT_EQ(c.tmphome_roots, (std::vector<std::string>{"/tmphome", "/srv/tmphome"}));
    EXPECT_EQ(c.operation_timeout, std::chrono::seconds(3600));
}

TEST(DaemonConfig, LogLevels) {
    const std::pair<const char*, LogLevel> cases[] = {{"debug", LogLevel::Debug},
                                                      {"info", LogLevel::Info},
                                                      {"notice", LogLevel::Notice},
                                                      {"warning", LogLevel::Warning},
                                                      {"error", LogLevel::Error}};
    for (auto [name, level] : cases) {
        auto c = parse_daemon_config(std::string(R"({"log_level": ")") + name + "\"}", "f");
        EXPECT_EQ(c.log_level, level) << name;
        EXPECT_EQ(to_string(level), name);
    }
    EXPECT_EQ(syslog_priority(LogLevel::Debug), LOG_DEBUG);
    EXPECT_EQ(syslog_priority(LogLevel::Notice), LOG_NOTICE);
    EXPECT_EQ(syslog_priority(LogLevel::Error), LOG_ERR);
}

TEST(DaemonConfig, RangeEdgesAccepted) {
    auto c = parse_daemon_config(R"({"workers": 1, "operation_timeout_sec": 1})", "f");
    EXPECT_EQ(c.workers, 1);
    EXPECT_EQ(c.operation_timeout.count(), 1);
}

TEST(DaemonConfig, PathsAreNormalised) {
    auto c = parse_daemon_config(R"({"state_dir": "//run//ph/./", "tmphome_roots": ["/t/", "/t"]})",
                                 "f");
    EXPECT_EQ(c.state_dir, "/run/ph");
    EXPECT_EQ(c.tmphome_roots, std::vector<std::string>{"/t"});  // repeat dropped
}

struct BadValue {
    const char* name;  // for the test's name
    const char* json;
    const char* key_in_message;
    const char* detail;
};

class DaemonConfigBadValue : public ::testing::TestWithParam<BadValue> {};

TEST_P(DaemonConfigBadValue, NamesKeyAndLine) {
    const BadValue& p = GetParam();
    // The bad member sits on line 3.
    std::string text = std::string("{\n  // settings\n  ") + p.json + "\n}\n";
    ConfigError e = error_of(text, "/etc/pershome.json");
    EXPECT_EQ(e.file, "/etc/pershome.json");
    EXPECT_EQ(e.line, 3) << e.what();
    EXPECT_TRUE(contains(e.message, p.key_in_message)) << e.what();
    EXPECT_TRUE(contains(e.message, p.detail)) << e.what();
    EXPECT_TRUE(contains(e.what(), "/etc/pershome.json:3: ")) << e.what();
}

INSTANTIATE_TEST_SUITE_P(
    Keys, DaemonConfigBadValue,
    ::testing::Values(
        BadValue{"state_dir_number", R"("state_dir": 5)", "\"state_dir\"",
                 "must be a string, got number 5"},
        BadValue{"state_dir_relative", R"("state_dir": "run/pershome")", "\"state_dir\"",
                 "absolute path"},
        BadValue{"state_dir_dotdot", R"("state_dir": "/run/../etc")", "\"state_dir\"", "\"..\""},
        BadValue{"state_dir_empty", R"("state_dir": "")", "\"state_dir\"", "absolute path"},
        BadValue{"state_dir_root", R"("state_dir": "/")", "\"state_dir\"", "must not be \"/\""},
        BadValue{"state_dir_nul", R"("state_dir": "/run/a\u0000b")", "\"state_dir\"", "NUL"},
        BadValue{"state_dir_null", R"("state_dir": null)", "\"state_dir\"", "got null"},
        BadValue{"persistent_homes_array", R"("persistent_homes": ["/x"])", "\"persistent_homes\"",
                 "got array"},
        BadValue{"persistent_homes_relative", R"("persistent_homes": "etc/ltsp")",
                 "\"persistent_homes\"", "absolute"},
        BadValue{"default_skel_bool", R"("default_skel": true)", "\"default_skel\"",
                 "got boolean true"},
        BadValue{"default_skel_relative", R"("default_skel": "skel")", "\"default_skel\"",
                 "absolute"},
        BadValue{"log_level_unknown", R"("log_level": "verbose")", "\"log_level\"",
                 "got \"verbose\""},
        BadValue{"log_level_upper", R"("log_level": "INFO")", "\"log_level\"", "must be one of"},
        BadValue{"log_level_number", R"("log_level": 3)", "\"log_level\"", "must be a string"},
        BadValue{"workers_zero", R"("workers": 0)", "\"workers\"", "from 1 to 64, got 0"},
        BadValue{"workers_too_many", R"("workers": 65)", "\"workers\"", "got 65"},
        BadValue{"workers_negative", R"("workers": -1)", "\"workers\"", "got -1"},
        BadValue{"workers_fraction", R"("workers": 4.5)", "\"workers\"", "must be an integer"},
        BadValue{"workers_float", R"("workers": 4.0)", "\"workers\"", "must be an integer"},
        BadValue{"workers_string", R"("workers": "4")", "\"workers\"", "got string \"4\""},
        BadValue{"workers_huge", R"("workers": 18446744073709551615)", "\"workers\"",
                 "from 1 to 64"},
        BadValue{"workers_exponent", R"("workers": 1e30)", "\"workers\"", "must be an integer"},
        BadValue{"timeout_zero", R"("operation_timeout_sec": 0)", "\"operation_timeout_sec\"",
                 "from 1 to 3600"},
        BadValue{"timeout_too_long", R"("operation_timeout_sec": 3601)",
                 "\"operation_timeout_sec\"", "got 3601"},
        BadValue{"timeout_string", R"("operation_timeout_sec": "120s")",
                 "\"operation_timeout_sec\"", "integer"},
        BadValue{"settle_too_long", R"("stick_settle_ms": 30001)", "\"stick_settle_ms\"",
                 "from 0 to 30000"},
        BadValue{"fsck_zero", R"("fsck_timeout_sec": 0)", "\"fsck_timeout_sec\"", "from 1"},
        BadValue{"grace_negative", R"("logout_grace_sec": -1)", "\"logout_grace_sec\"", "got -1"},
        BadValue{"fs_relative", R"("pershome_fs": "pershome-fs")", "\"pershome_fs\"", "absolute"},
        BadValue{"roots_string", R"("tmphome_roots": "/tmphome")", "\"tmphome_roots\"",
                 "must be an array"},
        BadValue{"roots_object", R"("tmphome_roots": {})", "\"tmphome_roots\"", "got object"},
        BadValue{"roots_element_number", R"("tmphome_roots": ["/tmphome", 7])",
                 "\"tmphome_roots[1]\"", "must be a string"},
        BadValue{"roots_element_relative", R"("tmphome_roots": ["tmphome"])",
                 "\"tmphome_roots[0]\"", "absolute"},
        BadValue{"roots_element_root", R"("tmphome_roots": ["/"])", "\"tmphome_roots[0]\"",
                 "must not be \"/\""},
        BadValue{"unknown_key_near", R"("statedir": "/run/x")", "unknown key \"statedir\"",
                 "did you mean \"state_dir\"?"},
        BadValue{"unknown_key_far", R"("frobnicate": 1)", "unknown key \"frobnicate\"",
                 "known keys: state_dir, "},
        BadValue{"duplicate_key", R"("workers": 3, "workers": 3)", "duplicate key \"workers\"",
                 "first given at line 3"}),
    [](const ::testing::TestParamInfo<BadValue>& info) { return std::string(info.param.name); });

TEST(DaemonConfig, LongValuesAreCutInMessages) {
    ConfigError e = error_of("{\"state_dir\": \"" + std::string(5000, 'x') + "\"}");
    EXPECT_LT(e.message.size(), 200u) << e.message;
    EXPECT_TRUE(contains(e.message, "xxx...")) << e.message;
    // The key is cut; the rest is the list of known keys.
    ConfigError k = error_of("{\"" + std::string(5000, 'k') + "\": 1}");
    EXPECT_LT(k.message.size(), 500u);
}

TEST(DaemonConfig, BigDocumentParsesInLinearTime) {
    // Line lookups and de-duplication must not be quadratic: 60,000 entries
    // would take minutes if they were.
    std::string text = "{\"tmphome_roots\": [\n";
    for (int i = 0; i < 60000; ++i) text += "  \"/t/" + std::to_string(i % 30000) + "\",\n";
    text += "  \"bad\"\n]}";
    auto start = std::chrono::steady_clock::now();
    ConfigError e = error_of(text);
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(e.line, 60002) << e.what();
    EXPECT_LT(took, std::chrono::seconds(10));

    text.replace(text.rfind("\"bad\""), 5, "\"/z\"");
    DaemonConfig c = parse_daemon_config(text, "f");
    EXPECT_EQ(c.tmphome_roots.size(), 30001u);
    EXPECT_EQ(c.tmphome_roots.back(), "/z");
}

TEST(DaemonConfig, ArrayElementErrorPointsAtElementLine) {
    ConfigError e = error_of("{\n \"tmphome_roots\": [\n  \"/a\",\n\n  \"rel\"\n ]\n}");
    EXPECT_EQ(e.line, 5) << e.what();
    EXPECT_TRUE(contains(e.message, "\"tmphome_roots[1]\"")) << e.what();
}

TEST(DaemonConfig, TopLevelMustBeObject) {
    for (std::string_view t : {"[]", "42", "\"x\"", "null"}) {
        ConfigError e = error_of(t);
        EXPECT_TRUE(contains(e.message, "must be a JSON object")) << e.what();
        EXPECT_EQ(e.line, 1);
    }
}

TEST(DaemonConfig, SyntaxErrorCarriesLineAndColumn) {
    ConfigError e = error_of("{\n  \"state_dir\": \"/run/x\"\n  \"workers\": 2\n}", "p.json");
    EXPECT_EQ(e.line, 3);
    EXPECT_EQ(e.column, 3);  // the start of the out-of-place "workers"
    EXPECT_EQ(std::string(e.what()).rfind("p.json:3:3: ", 0), 0u) << e.what();
}

TEST(DaemonConfig, FirstProblemInFileOrderIsReported) {
    ConfigError e = error_of("{\n\"workers\": 0,\n\"a_bad_key\": 1\n}");
    EXPECT_EQ(e.line, 2) << e.what();
    EXPECT_TRUE(contains(e.message, "workers"));
}

TEST(DaemonConfig, LoadReadsFile) {
    TempDir dir;
    std::string path = dir.write("c.json", R"({"workers": 7})");
    DaemonConfig c = load_daemon_config(path);
    EXPECT_EQ(c.workers, 7);
}

TEST(DaemonConfig, LoadErrorNamesFileAndLine) {
    TempDir dir;
    std::string path = dir.write("c.json", "{\n\n\"workers\": 99}");
    try {
        load_daemon_config(path);
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.file, path);
        EXPECT_EQ(e.line, 3);
        EXPECT_TRUE(contains(e.what(), path + ":3: \"workers\"")) << e.what();
    }
}

TEST(DaemonConfig, LoadMissingFile) {
    TempDir dir;
    std::string path = (dir.path() / "absent.json").string();
    try {
        load_daemon_config(path);
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.file, path);
        EXPECT_EQ(e.line, 0);
        EXPECT_EQ(std::string(e.what()),
                  path + ": cannot read configuration: No such file or directory");
    }
}

TEST(DaemonConfig, LoadDirectoryIsRefused) {
    TempDir dir;
    try {
        load_daemon_config(dir.path().string());
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_TRUE(contains(e.what(), "Is a directory")) << e.what();
    }
}

TEST(DaemonConfig, LoadFifoIsRefusedWithoutBlocking) {
    TempDir dir;
    std::string path = (dir.path() / "fifo").string();
    ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
    try {
        load_daemon_config(path);
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_TRUE(contains(e.what(), "not a regular file")) << e.what();
    }
}

TEST(DaemonConfig, LoadHugeFileIsRefused) {
    TempDir dir;
    std::string big = "{\"state_dir\": \"/" + std::string(kMaxDaemonConfigBytes, 'a') + "\"}";
    std::string path = dir.write("big.json", big);
    try {
        load_daemon_config(path);
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_TRUE(contains(e.what(), "larger than")) << e.what();
    }
}

TEST(DaemonConfig, LoadFollowsSymlink) {
    TempDir dir;
    std::string target = dir.write("real.json", R"({"log_level": "warning"})");
    std::string link = (dir.path() / "link.json").string();
    ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
    EXPECT_EQ(load_daemon_config(link).log_level, LogLevel::Warning);
}

TEST(DaemonConfig, DumpRoundTrips) {
    DaemonConfig c;
    c.state_dir = "/run/x";
    c.log_level = LogLevel::Notice;
    c.workers = 9;
    c.tmphome_roots = {"/tmphome", "/a b"};
    c.operation_timeout = std::chrono::seconds(33);
    std::string text = dump_daemon_config(c);
    EXPECT_TRUE(contains(text, "\"operation_timeout_sec\": 33")) << text;
    EXPECT_EQ(parse_daemon_config(text, "dump"), c);
    EXPECT_EQ(parse_daemon_config(dump_daemon_config(DaemonConfig{}), "dump"), DaemonConfig{});
}

TEST(DaemonConfig, ShippedExampleParsesToDefaults) {
    DaemonConfig c = load_daemon_config(PERSHOME_SOURCE_DIR "/config/pershomed.json");
    EXPECT_EQ(c, DaemonConfig{});
}

TEST(NormalizeAbsolutePath, Cases) {
    EXPECT_EQ(normalize_absolute_path("/"), "/");
    EXPECT_EQ(normalize_absolute_path("///"), "/");
    EXPECT_EQ(normalize_absolute_path("/tmphome/"), "/tmphome");
    EXPECT_EQ(normalize_absolute_path("/a//b/./c/"), "/a/b/c");
    EXPECT_EQ(normalize_absolute_path("/a/.../b"), "/a/.../b");
    EXPECT_EQ(normalize_absolute_path("/a/..b"), "/a/..b");
    EXPECT_EQ(normalize_absolute_path("/tmphome/../etc"), "");
    EXPECT_EQ(normalize_absolute_path("/.."), "");
    EXPECT_EQ(normalize_absolute_path("tmphome"), "");
    EXPECT_EQ(normalize_absolute_path(""), "");
}

TEST(AllowsTmphomeRoot, EmptyListAllowsAnyAbsoluteRoot) {
    DaemonConfig c;
    EXPECT_TRUE(c.allows_tmphome_root("/tmphome/"));
    EXPECT_TRUE(c.allows_tmphome_root("/anything"));
    EXPECT_FALSE(c.allows_tmphome_root("tmphome"));
    EXPECT_FALSE(c.allows_tmphome_root("/tmphome/../etc"));
}

TEST(AllowsTmphomeRoot, ListIsExactAfterNormalising) {
    DaemonConfig c = parse_daemon_config(R"({"tmphome_roots": ["/tmphome/"]})", "f");
    EXPECT_TRUE(c.allows_tmphome_root("/tmphome"));
    EXPECT_TRUE(c.allows_tmphome_root("/tmphome/"));
    EXPECT_TRUE(c.allows_tmphome_root("//tmphome//"));
    EXPECT_FALSE(c.allows_tmphome_root("/tmphome2"));
    EXPECT_FALSE(c.allows_tmphome_root("/tmphome/sub"));
    EXPECT_FALSE(c.allows_tmphome_root("/"));
    EXPECT_FALSE(c.allows_tmphome_root("/tmphome/../tmphome"));
    EXPECT_FALSE(c.allows_tmphome_root(std::string_view("/tmphome\0x", 10)));
}

}  // namespace
}  // namespace pershome::config
