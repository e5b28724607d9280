// pershomed's command line as an admin meets it: --help, --version, and a
// bad configuration that stops it with a message naming file, line and key.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace pershome::test {
namespace {

using namespace std::chrono_literals;

struct Run {
    int exit_code = -1;
    std::string out, err;
};

Run pershomed(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {PERSHOMED_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    Child c;
    c.start(argv, clean_environment());
    c.close_stdin();
    c.read_until(Clock::now() + 20s);
    int status = c.wait(Clock::now() + 20s);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, c.out_text, c.err_text};
}

TEST(DaemonCli, HelpAndVersion) {
    auto help = pershomed({"--help"});
    EXPECT_EQ(help.exit_code, 0);
    EXPECT_NE(help.out.find("--config FILE"), std::string::npos) << help.out;
    auto version = pershomed({"--version"});
    EXPECT_EQ(version.exit_code, 0);
    EXPECT_EQ(version.out.rfind("pershomed ", 0), 0u) << version.out;
    auto bad = pershomed({"--frobnicate"});
    EXPECT_EQ(bad.exit_code, 2);
}

TEST(DaemonCli, BadConfigNamesFileLineAndKey) {
    TempDir tmp;
    const auto file = tmp / "pershomed.json";
    write_file(file, "{\n  \"state_dir\": \"/run/x\",\n  \"wokers\": 3\n}\n");
    auto unknown = pershomed({"--config", file.string()});
    EXPECT_EQ(unknown.exit_code, 1);
    EXPECT_NE(unknown.err.find(file.string() + ":3"), std::string::npos) << unknown.err;
    EXPECT_NE(unknown.err.find("wokers"), std::string::npos) << unknown.err;

    write_file(file, "{\n  \"workers\": \"many\"\n}\n");
    auto type = pershomed({"--config", file.string()});
    EXPECT_EQ(type.exit_code, 1);
    EXPECT_NE(type.err.find("workers"), std::string::npos) << type.err;

    write_file(file, "{\n  \"state_dir\": \"/run/x\",,\n}\n");
    auto syntax = pershomed({"--config", file.string()});
    EXPECT_EQ(syntax.exit_code, 1);
    EXPECT_NE(syntax.err.find(file.string() + ":2"), std::string::npos) << syntax.err;

    auto missing = pershomed({"--config", (tmp / "nope.json").string()});
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_NE(missing.err.find("nope.json"), std::string::npos) << missing.err;
}

TEST(DaemonCli, CheckConfigPrintsTheEffectiveConfiguration) {
    TempDir tmp;
    write_file(tmp / "c.json", "{ \"workers\": 2 }\n");
    auto r = pershomed({"--config", (tmp / "c.json").string(), "--check-config"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("\"workers\": 2"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"state_dir\": \"/run/pershome\""), std::string::npos) << r.out;
}

}  // namespace
}  // namespace pershome::test
