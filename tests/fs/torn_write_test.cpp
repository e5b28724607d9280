// The index's torn-write guarantee on the real I/O path: for every prefix
// (in 512-byte sectors) of every slot write, including the ones that grow
// the file, loading the directory yields exactly the old or the new index.
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
        std::size_t lo = 0;
        while (lo < after.size() && lo < before.size() && after[lo] == before[lo]) ++lo;
        std::size_t hi = after.size();
        while (hi > lo && hi <= before.size() && after[hi - 1] == before[hi - 1]) --hi;
        for (std::size_t cut = lo; cut < hi; cut += 512) {
            std::string torn = before;
            if (torn.size() < after.size()) torn.resize(after.size(), '\0');
            torn.replace(lo, cut - lo, after.substr(lo, cut - lo));
            spit(idx, torn);
            const auto v = shown(dir);
            EXPECT_TRUE(v == old_view || v == new_view) << "generation " << gen << " cut " << cut;
            ++checked;
        }
        spit(idx, after);
        d.dirty = false;
    }
    EXPECT_GT(checked, 50);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pershome::fs
