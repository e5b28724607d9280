// The index's torn-write guarantee on the real I/O path: for every prefix
// (in 512-byte sectors) of every slot write, including the ones that grow
// the file, and of every delta record and the full slot that follows a run
// of them, loading the directory yields exactly the old or the new index.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "fs/dir_state.hpp"
#include "fs/name_codec.hpp"

namespace pershome::fs {
namespace {

std::string slurp(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void spit(const std::string& p, const std::string& data) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << data;
}

// What a directory load shows: names with their modes.
std::map<std::string, std::uint32_t> shown(const std::string& dir) {
    std::vector<std::string> problems;
    DirState d = load_dir(UniqueFd(open(dir.c_str(), O_PATH | O_DIRECTORY)), {}, &problems);
    std::map<std::string, std::uint32_t> out;
    for (const auto& [n, e] : d.entries) out[n] = e.mode;
    return out;
}

// The bytes one write changed, [lo, hi): one region.
struct Changed {
    std::size_t lo = 0, hi = 0;
};
Changed changed_region(const std::string& before, const std::string& after) {
    Changed c;
    while (c.lo < after.size() && c.lo < before.size() && after[c.lo] == before[c.lo]) ++c.lo;
    c.hi = after.size();
    while (c.hi > c.lo && c.hi <= before.size() && after[c.hi - 1] == before[c.hi - 1]) --c.hi;
    return c;
}

// Tears the write from BEFORE to AFTER of DIR's index file IDX at every
// sector of region C: the load shows OLD_VIEW or NEW_VIEW. Leaves AFTER in
// place; returns how many tears were checked.
int tear_at_every_sector(const std::string& dir, const std::string& idx, const std::string& before,
                         const std::string& after, Changed c,
                         const std::map<std::string, std::uint32_t>& old_view,
                         const std::map<std::string, std::uint32_t>& new_view,
                         const std::string& what) {
    int checked = 0;
    for (std::size_t cut = c.lo; cut < c.hi; cut += 512) {
        std::string torn = before;
        if (torn.size() < after.size()) torn.resize(after.size(), '\0');
        torn.replace(c.lo, cut - c.lo, after.substr(c.lo, cut - c.lo));
        spit(idx, torn);
        const auto v = shown(dir);
        EXPECT_TRUE(v == old_view || v == new_view) << what << " cut " << cut;
        ++checked;
    }
    spit(idx, after);
    return checked;
}

TEST(TornWrite, EverySectorPrefixOfEverySlotWriteLeavesOldOrNew) {
    char tmpl[] = "/tmp/pershome-torn.XXXXXX";
    ASSERT_TRUE(mkdtemp(tmpl));
    const std::string dir = tmpl;
    const std::string idx = dir + "/" + std::string(kIndexFileName);
    // Backing files the entries point at (names needing generated names).
    for (int i = 0; i < 400; ++i) spit(dir + "/g" + std::to_string(i), "");
    DirState d = load_dir(UniqueFd(open(dir.c_str(), O_PATH | O_DIRECTORY)), {}, nullptr);
    d.entries.clear();
    d.claimed.clear();
    int checked = 0;
    for (int gen = 0; gen < 12; ++gen) {
        const auto old_view = shown(dir);
        const std::string before = slurp(idx);
        // Grow quickly so that several writes move to a bigger capacity.
        for (int i = 0; i < 1 + gen * gen * 3 && i < 400; ++i) {
            Entry e;
            e.name = "odd:" + std::to_string(i) + "?";
            e.real = "g" + std::to_string(i);
            e.mode = 0600 + static_cast<std::uint32_t>(gen % 8);
            d.add(e);
        }
        d.dirty = true;
        ASSERT_EQ(write_index(d, nullptr), 0);
        const std::string after = slurp(idx);
        const auto new_view = shown(dir);
        ASSERT_NE(old_view, new_view);
        // The bytes the write changed form one region; tear it anywhere.
        checked += tear_at_every_sector(dir, idx, before, after, changed_region(before, after),
                                        old_view, new_view, "generation " + std::to_string(gen));
        d.dirty = false;
    }
    EXPECT_GT(checked, 50);
    std::filesystem::remove_all(dir);
}

// Small changes go out as delta records (docs/on-stick-format.md, 2a): one
// 4 KiB page each, until the budget is spent and a full slot follows. Every
// one of those writes, torn at every sector, leaves the old or the new
// state, and so does a reload between writes (the writer's state rebuilt
// from the file).
TEST(TornWrite, EverySectorOfEveryDeltaAndTheSlotAfterLeavesOldOrNew) {
    char tmpl[] = "/tmp/pershome-torn.XXXXXX";
    ASSERT_TRUE(mkdtemp(tmpl));
    const std::string dir = tmpl;
    const std::string idx = dir + "/" + std::string(kIndexFileName);
    constexpr int kFiles = 300;
    for (int i = 0; i < kFiles; ++i) spit(dir + "/g" + std::to_string(i), "");
    auto load = [&] {
        return load_dir(UniqueFd(open(dir.c_str(), O_PATH | O_DIRECTORY)), {}, nullptr);
    };
    DirState d = load();
    d.entries.clear();
    d.claimed.clear();
    for (int i = 0; i < 200; ++i) {
        Entry e;
        e.name = "odd:" + std::to_string(i) + "?";
        e.real = "g" + std::to_string(i);
        e.mode = 0600;
        d.add(e);
    }
    ASSERT_EQ(write_index(d, nullptr), 0);
    int deltas = 0, slots = 0, checked = 0, slot_after_delta = 0;
    bool last_was_delta = false;
    for (int step = 0; step < 60; ++step) {
        const auto old_view = shown(dir);
        const std::string before = slurp(idx);
        if (step % 3 == 2 && 200 + step < kFiles) {
            Entry e;
            e.name = "new:" + std::to_string(step);
            e.real = "g" + std::to_string(200 + step);
            e.mode = 0640;
            d.add(e);
        } else {
            d.find("odd:" + std::to_string(step) + "?")->mode =
                0400 + static_cast<std::uint32_t>(step % 64);
        }
        if (step == 30) d = load();  // the writer's state from the file, as after a remount
        if (step == 30) d.find("odd:1?")->mode = 0444;
        IndexStats stats;
        ASSERT_EQ(write_index(d, &stats), 0);
        ASSERT_EQ(stats.writes, 1u);
        const std::string after = slurp(idx);
        const auto new_view = shown(dir);
        ASSERT_NE(old_view, new_view) << step;
        const Changed c = changed_region(before, after);
        // What was written: a delta record (one page here) starts with its
        // own magic.
        const bool delta =
            c.hi > c.lo && after.compare((c.hi - 1) / kSlotAlign * kSlotAlign, 8, "PSHMDLT2") == 0;
        (delta ? deltas : slots)++;
        if (!delta && last_was_delta) ++slot_after_delta;
        last_was_delta = delta;
        checked += tear_at_every_sector(dir, idx, before, after, c, old_view, new_view,
                                        "step " + std::to_string(step));
    }
    EXPECT_GT(deltas, 30);
    EXPECT_GT(slots, 1);
    EXPECT_GT(slot_after_delta, 0);  // the budget ran out at least once
    EXPECT_GT(checked, 100);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pershome::fs
