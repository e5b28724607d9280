// The state dir: what a restarted daemon reads back, and what it does with
// records it cannot trust.
#include "daemon/state_store.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <functional>

#include "tests/support/temp_dir.hpp"

namespace pershome {
namespace {

constexpr const char* kRefA = "0123456789abcdef0123456789abcdef";
constexpr const char* kRefB = "fedcba9876543210fedcba9876543210";

SessionRecord sample(const std::string& user, uid_t uid = 20001) {
    SessionRecord r;
    r.user = user;
    r.uid = uid;
    r.gid = 20002;
    r.mode = "tmphome";
    r.home = "/tmphome/" + user;
    r.tmphome_root = "/tmphome";
    r.state = "active";
    r.opened_usec = 1764180000000000u;
    r.references = {kRefA, kRefB};
    return r;
}

std::vector<std::string> files_in(const std::filesystem::path& dir) {
    std::vector<std::string> out;
    for (auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
}

TEST(StateStore, SaveLoadEraseRoundTrip) {
    test::TempDir tmp;
    StateStore store((tmp / "state").string());
    store.save(sample("joseph", 20001));
    store.save(sample("o'brien", 20003));
    std::vector<std::string> warnings;
    auto all = store.load_all(warnings);
    EXPECT_TRUE(warnings.empty());
    ASSERT_EQ(all.size(), 2u);
    for (const auto& r : all) {
        EXPECT_EQ(r.gid, 20002u);
        EXPECT_EQ(r.references, (std::vector<std::string>{kRefA, kRefB}));
        EXPECT_EQ(r.home, "/tmphome/" + r.user);
    }
    store.erase(20001);
    all = store.load_all(warnings);
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].user, "o'brien");
}

// The file is named by uid: a user name of any length (LDAP allows long
// ones) still fits the file name, so the session is not forgotten.
TEST(StateStore, RecordsAreNamedByUidWhateverTheUserName) {
    test::TempDir tmp;
    StateStore store((tmp / "state").string());
    const std::string long_name(200, 'x');  // escaped as a name, past NAME_MAX
    store.save(sample(long_name, 20001));
    EXPECT_EQ(files_in(tmp / "state/sessions"), (std::vector<std::string>{"20001.json"}));
    struct stat st {};
    ASSERT_EQ(stat((tmp / "state/sessions").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    std::vector<std::string> warnings;
    auto all = store.load_all(warnings);
    ASSERT_EQ(all.size(), 1u) << (warnings.empty() ? "" : warnings[0]);
    EXPECT_EQ(all[0].user, long_name);
}

TEST(StateStore, RecordsNamedAfterTheUserAreRenamedToTheUid) {
    test::TempDir tmp;
    StateStore store((tmp / "state").string());
    store.save(sample("joseph", 20001));
    std::filesystem::rename(tmp / "state/sessions/20001.json", tmp / "state/sessions/joseph.json");
    std::vector<std::string> warnings;
    auto all = store.load_all(warnings);
    ASSERT_EQ(all.size(), 1u);
    EXPECT_TRUE(warnings.empty());
    EXPECT_EQ(files_in(tmp / "state/sessions"), (std::vector<std::string>{"20001.json"}));
}

TEST(StateStore, DamagedRecordsAreSetAsideNotActedOn) {
    test::TempDir tmp;
    StateStore store((tmp / "state").string());
    const auto dir = tmp / "state/sessions";
    store.save(sample("good", 20001));
    test::write_file(dir / "20002.json", "{\"user\": \"torn\", \"ui");
    test::write_file(dir / "20003.json", "{\"user\":\"wrongtype\",\"uid\":\"x\"}");
    // A record whose file name does not match its uid could make us act on
    // the wrong account's home.
    store.save(sample("mallory", 20004));
    std::filesystem::rename(dir / "20004.json", dir / "20005.json");
    std::vector<std::string> warnings;
    auto all = store.load_all(warnings);
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].user, "good");
    EXPECT_EQ(warnings.size(), 3u);
    for (const auto& w : warnings) EXPECT_NE(w.find("state/sessions/"), std::string::npos) << w;
    EXPECT_EQ(files_in(dir),
              (std::vector<std::string>{"20001.json", "20002.json.rejected", "20003.json.rejected",
                                        "20005.json.rejected"}));
}

// Records edited by hand (or by an attacker who got into the state dir once)
// must not steer root: each field that names a file is checked.
TEST(StateStore, HandCraftedRecordsAreRefusedFieldByField) {
    struct Case {
        const char* what;
        std::function<void(SessionRecord&)> edit;
        const char* said;
    };
    const std::vector<Case> cases = {
        {"reference as a path", [](SessionRecord& r) { r.references = {"../../etc/passwd"}; },
         "reference id"},
        {"reference repeated",
         [](SessionRecord& r) {
             r.references = {kRefA, kRefA};
         },
         "repeated"},
        {"home with ..", [](SessionRecord& r) { r.home = "/tmphome/../etc"; }, "clean absolute"},
        {"home outside its root", [](SessionRecord& r) { r.home = "/etc"; }, "not below"},
        {"home is the root", [](SessionRecord& r) { r.home = "/tmphome"; }, "not below"},
        {"relative root",
         [](SessionRecord& r) {
             r.tmphome_root = "tmphome";
             r.home = "tmphome/x";
         },
         "clean absolute"},
        {"unknown mode", [](SessionRecord& r) { r.mode = "rm-rf"; }, "unknown mode"},
        {"unknown state", [](SessionRecord& r) { r.state = "zombie"; }, "unknown state"},
        {"empty user", [](SessionRecord& r) { r.user = ""; }, "user name"},
        {"huge user", [](SessionRecord& r) { r.user = std::string(300, 'u'); }, "user name"},
        {"device with a slash",
         [](SessionRecord& r) {
             r.mode = "persistent";
             r.device = "../sda";
             r.stick_dir = "/var/lib/pershome/sticks/sda";
         },
         "device name"},
        {"negative pid",
         [](SessionRecord& r) {
             r.mode = "persistent";
             r.device = "sdb1";
             r.stick_dir = "/var/lib/pershome/sticks/sdb1";
             r.fs_pid = -1;
         },
         "pid"},
    };
    for (const auto& c : cases) {
        test::TempDir tmp;
        StateStore store((tmp / "state").string());
        SessionRecord r = sample("joseph", 20001);
        c.edit(r);
        store.save(r);
        std::vector<std::string> warnings;
        EXPECT_TRUE(store.load_all(warnings).empty()) << c.what;
        ASSERT_EQ(warnings.size(), 1u) << c.what;
        EXPECT_NE(warnings[0].find(c.said), std::string::npos) << c.what << ": " << warnings[0];
        EXPECT_TRUE(std::filesystem::exists(tmp / "state/sessions/20001.json.rejected")) << c.what;
    }
}

TEST(StateStore, RefusesAStateDirOthersCanWrite) {
    test::TempDir tmp;
    std::filesystem::create_directories(tmp / "state/sessions");
    chmod((tmp / "state/sessions").c_str(), 0777);
    EXPECT_THROW(StateStore((tmp / "state").string()), std::runtime_error);
}

}  // namespace
}  // namespace pershome
