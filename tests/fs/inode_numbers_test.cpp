// The st_ino derivation (fs/inode_numbers): the same path or link id gives
// the same number in any process; numbers fit 32-bit stat and never
// collide with "no inode" or the root.
#include "fs/inode_numbers.hpp"

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace pershome::fs {
namespace {

std::uint64_t ino_of_path(std::initializer_list<std::string_view> names) {
    std::uint64_t key = root_key();
    for (auto n : names) key = child_key(key, n);
    return ino_of_key(key, 0);
}

TEST(InodeNumbers, FollowThePathNotTheOrderOfLookup) {
    // Fixed values: a change here renumbers every user's files at their
    // next mount, which git notices as a changed stat of every file.
    EXPECT_EQ(ino_of_path({"a"}), 2585747823u);
    EXPECT_EQ(ino_of_path({"dir", "file"}), 1193969040u);
    EXPECT_EQ(ino_of_link(1, 0), 4154104979u);
    EXPECT_NE(ino_of_path({"ab", "c"}), ino_of_path({"a", "bc"}));
    EXPECT_NE(ino_of_path({"d", "f"}), ino_of_path({"f", "d"}));
    EXPECT_NE(ino_of_path({"Makefile"}), ino_of_path({"makefile"}));
    EXPECT_NE(ino_of_key(child_key(root_key(), "a"), 0), ino_of_key(child_key(root_key(), "a"), 1));
    EXPECT_NE(ino_of_link(7, 0), ino_of_link(8, 0));
}

TEST(InodeNumbers, FitIn32BitsAndAvoidZeroAndTheRoot) {
    std::set<std::uint64_t> seen;
    for (unsigned i = 0; i < 20000; ++i) {
        for (std::uint64_t v : {ino_of_path({"f" + std::to_string(i)}), ino_of_link(i + 1, 0),
                                ino_of_key(i, i % 5)}) {
            EXPECT_GE(v, 2u);
            EXPECT_LE(v, 0xffffffffu);
            seen.insert(v);
        }
    }
    // Spread over the 32 bits: 60,000 values, a handful of birthday pairs.
    EXPECT_GT(seen.size(), 59900u);
}

}  // namespace
}  // namespace pershome::fs
