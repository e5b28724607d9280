// The state dir: what a restarted daemon reads back, and what it does with
// records it cannot trust.
#include "daemon/state_store.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "tests/support/temp_dir.hpp"

namespace pershome {
namespace {

SessionRecord sample(const std::string& user) {
    SessionRecord r;
    r.user = user;
    r.uid = 20001;
    r.gid = 20002;
    r.mode = "tmphome";
    r.home = "/tmphome/" + user;
    r.tmphome_root = "/tmphome";
    r.state = "active";
    r.opened_usec = 1764180000000000u;
    r.references = {"aa", "bb"};
    return r;
}

TEST(StateStore, SaveLoadEraseRoundTrip) {
    test::TempDir tmp;
    StateStore store((tmp / "state").string());
    store.save(sample("joseph"));
    store.save(sample("o'brien"));  // escaped in the file name
    std::vector<std::string> warnings;
    auto all = store.load_all(warnings);
    EXPECT_TRUE(warnings.empty());
    ASSERT_EQ(all.size(), 2u);
    for (const auto& r : all) {
        EXPECT_EQ(r.uid, 20001u);
        EXPECT_EQ(r.gid, 20002u);
        EXPECT_EQ(r.references, (std::vector<std::string>{"aa", "bb"}));
        EXPECT_EQ(r.home, "/tmphome/" + r.user);
    }
    store.erase("joseph");
    all = store.load_all(warnings);
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].user, "o'brien");
}

TEST(StateStore, DirsArePrivateAndSaveLeavesNoTempFiles) {
    test::TempDir tmp;
    StateStore store((tmp / "state").string());
    store.save(sample("joseph"));
    struct stat st {};
    ASSERT_EQ(stat((tmp / "state/sessions").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    ASSERT_EQ(stat((tmp / "state/refs").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    int files = 0;
    for (auto& e : std::filesystem::directory_iterator(tmp / "state/sessions")) {
        ++files;
        EXPECT_EQ(e.path().filename(), "joseph.json");
    }
    EXPECT_EQ(files, 1);
}

TEST(StateStore, DamagedRecordsAreReportedAndSkipped) {
    test::TempDir tmp;
    StateStore store((tmp / "state").string());
    store.save(sample("good"));
    test::write_file(tmp / "state/sessions/torn.json", "{\"user\": \"torn\", \"ui");
    test::write_file(tmp / "state/sessions/wrongtype.json",
                     "{\"user\":\"wrongtype\",\"uid\":\"x\"}");
    // A record whose file name does not match its user could make us act on
    // the wrong user's home.
    auto other = sample("mallory");
    store.save(other);
    std::filesystem::rename(tmp / "state/sessions/mallory.json", tmp / "state/sessions/eve.json");
    std::vector<std::string> warnings;
    auto all = store.load_all(warnings);
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].user, "good");
    EXPECT_EQ(warnings.size(), 3u);
    for (const auto& w : warnings) EXPECT_NE(w.find("state/sessions/"), std::string::npos) << w;
}

TEST(StateStore, RefusesAStateDirOthersCanWrite) {
    test::TempDir tmp;
    std::filesystem::create_directories(tmp / "state/sessions");
    chmod((tmp / "state/sessions").c_str(), 0777);
    EXPECT_THROW(StateStore((tmp / "state").string()), std::runtime_error);
}

}  // namespace
}  // namespace pershome
