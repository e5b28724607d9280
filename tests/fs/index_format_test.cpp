#include "fs/index_format.hpp"

#include <gtest/gtest.h>

#include "fs/crc32c.hpp"

namespace pershome::fs {
namespace {

// Layout of version 1 (docs/on-stick-format.md): 8-byte payload head, then
// the directory's own record (68 bytes, no names), then the entries.
constexpr std::size_t kFirstEntry = 8 + 68;

Entry entry(std::string name, std::string real) {
    Entry e;
    e.name = std::move(name);
    e.real = std::move(real);
    e.mode = 0640;
    e.atime = {1700000000, 123456789};
    e.mtime = {1700000001, 999999999};
    e.ctime = {-5, 1};
    return e;
}

IndexContent sample() {
    IndexContent c;
    c.self.mode = 0700;
    c.self.mtime = {42, 7};
    c.entries.push_back(entry("Makefile", "Makefile"));
    c.entries.push_back(entry("makefile", "makefile~0badf00d"));
    auto l = entry("link", "link");
    l.type = NodeType::Symlink;
    l.target = std::string("../any\xff bytes/", 14);
    c.entries.push_back(l);
    auto h = entry("hard", "");
    h.link_id = 77;
    c.entries.push_back(h);
    auto x = entry("x", "x~1");
    x.xattrs["user.a"] = std::string("v\0v", 3);
    x.type = NodeType::Fifo;
    c.entries.push_back(x);
    return c;
}

TEST(Crc32c, KnownVector) {
    EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
    EXPECT_EQ(crc32c(std::string_view("6789"), crc32c("12345")), 0xE3069283u);
}

TEST(Payload, RoundTrip) {
    const auto c = sample();
    std::vector<std::string> problems;
    const auto p = parse_payload(serialize_payload(c), &problems);
    ASSERT_TRUE(p);
    EXPECT_TRUE(problems.empty());
    EXPECT_EQ(p->self.mode, 0700u);
    EXPECT_EQ(p->self.mtime, (Timestamp{42, 7}));
    ASSERT_EQ(p->entries.size(), c.entries.size());
    for (std::size_t i = 0; i < c.entries.size(); ++i) {
        const auto& a = c.entries[i];
        const auto& b = p->entries[i];
        EXPECT_EQ(a.name, b.name);
        EXPECT_EQ(a.real, b.real);
        EXPECT_EQ(a.type, b.type);
        EXPECT_EQ(a.mode, b.mode);
        EXPECT_EQ(a.atime, b.atime);
        EXPECT_EQ(a.mtime, b.mtime);
        EXPECT_EQ(a.ctime, b.ctime);
        EXPECT_EQ(a.link_id, b.link_id);
        EXPECT_EQ(a.target, b.target);
        EXPECT_EQ(a.xattrs, b.xattrs);
    }
}

TEST(Slots, NewestVerifiedSlotWins) {
    const std::string p1 = serialize_payload(sample());
    auto c2 = sample();
    c2.entries.pop_back();
    const std::string p2 = serialize_payload(c2);
    std::string file(2 * kSlotAlign, '\0');
    const auto s1 = encode_slot(5, kSlotAlign, p1);
    const auto s2 = encode_slot(6, kSlotAlign, p2);
    file.replace(0, s1.size(), s1);
    file.replace(kSlotAlign, s2.size(), s2);
    auto best = find_newest_slot(file);
    ASSERT_TRUE(best);
    EXPECT_EQ(best->generation, 6u);
    EXPECT_EQ(best->payload, p2);
    // A torn write of the newer slot: the older one is used.
    file[kSlotAlign + kSlotHeaderSize + 3] ^= 0x40;
    best = find_newest_slot(file);
    ASSERT_TRUE(best);
    EXPECT_EQ(best->generation, 5u);
    // Header damage in the old one too: nothing verifies.
    file[20] ^= 1;
    int seen = 0;
    EXPECT_FALSE(find_newest_slot(file, &seen));
    EXPECT_EQ(seen, 2);
}

TEST(Slots, AbsurdGenerationIsNotValid) {
    // A crafted 2^64-1 would make the next write's generation wrap to 0 and
    // lose to it for ever; such a slot is not valid, so the next one wins.
    const std::string p1 = serialize_payload(sample());
    std::string file(2 * kSlotAlign, '\0');
    const auto hostile = encode_slot(UINT64_MAX, kSlotAlign, p1);
    file.replace(0, hostile.size(), hostile);
    EXPECT_FALSE(find_newest_slot(file));
    const auto next = encode_slot(1, kSlotAlign, p1);
    file.replace(kSlotAlign, next.size(), next);
    auto best = find_newest_slot(file);
    ASSERT_TRUE(best);
    EXPECT_EQ(best->generation, 1u);
    EXPECT_EQ(best->offset, kSlotAlign);
    const auto highest = encode_slot(kMaxGeneration, kSlotAlign, p1);
    file.replace(0, highest.size(), highest);
    best = find_newest_slot(file);
    ASSERT_TRUE(best);
    EXPECT_EQ(best->generation, kMaxGeneration);
}

TEST(Slots, TruncatedFile) {
    const auto s = encode_slot(1, kSlotAlign, serialize_payload(sample()));
    for (std::size_t n = 0; n < s.size(); ++n)
        EXPECT_FALSE(find_newest_slot(std::string_view(s).substr(0, n))) << n;
    EXPECT_TRUE(find_newest_slot(s));
}

TEST(Slots, PlacementNeverOverlapsNewest) {
    EXPECT_EQ(place_next_slot(std::nullopt, 0, 100).offset, 0u);
    EXPECT_EQ(place_next_slot(std::nullopt, 0, 100).capacity, kSlotAlign);
    EXPECT_EQ(place_next_slot(SlotSpan{0, 100}, 4096, 200).offset, 4096u);
    EXPECT_EQ(place_next_slot(SlotSpan{4096, 100}, 4096, 200).offset, 0u);
    for (std::uint64_t off : {0ull, 4096ull, 8192ull, 12288ull, 65536ull}) {
        for (std::uint64_t len : {64ull, 4000ull, 4096ull, 9000ull}) {
            for (std::size_t want : {64ul, 5000ul, 100000ul}) {
                const auto pl = place_next_slot(SlotSpan{off, len}, 4096, want);
                EXPECT_EQ(pl.offset % kSlotAlign, 0u);
                EXPECT_GE(pl.capacity, want) << off << " " << len << " " << want;
                const bool overlap = pl.offset < off + len && off < pl.offset + want;
                EXPECT_FALSE(overlap) << off << " " << len << " " << want;
            }
        }
    }
}

TEST(Slots, HostileCapacityIsNotTrusted) {
    // (Found by the fuzzer: the capacity field of a slot is informative.)
    struct Case {
        std::uint64_t offset, length;
        std::uint32_t capacity;
    };
    for (const Case c :
         {Case{0, 1000, 0x80000000u}, Case{0, 1000, 5000}, Case{4096, 1000, 0x80001000u},
          Case{0, 1000, 0x656B6166u}, Case{8192, 100, 4096}, Case{0, 100, 0}}) {
        for (std::size_t want : {100ul, 1000ul, 5000ul, 70000ul}) {
            const auto p = place_next_slot(SlotSpan{c.offset, c.length}, c.capacity, want);
            EXPECT_EQ(p.offset % kSlotAlign, 0u) << c.capacity;
            EXPECT_TRUE(p.offset == 0 || p.offset == p.capacity) << c.capacity;
            EXPECT_LE(want, p.capacity);
            EXPECT_LE(p.offset + want, 1u << 20) << c.capacity;  // no giant files
            const bool overlap = p.offset < c.offset + c.length && c.offset < p.offset + want;
            EXPECT_FALSE(overlap) << c.capacity;
        }
    }
}

// ---- Hostile indexes: never crash, never accept what the mount must not see.

TEST(Hostile, TruncatedPayloadsAreRejectedOrPartial) {
    const auto p = serialize_payload(sample());
    for (std::size_t n = 0; n < p.size(); ++n) {
        auto r = parse_payload(std::string_view(p).substr(0, n));
        if (r) {
            EXPECT_LT(r->entries.size(), sample().entries.size());
        }
    }
}

TEST(Hostile, RandomBytesNeverCrash) {
    std::uint32_t x = 12345;
    for (int round = 0; round < 2000; ++round) {
        std::string buf(static_cast<std::size_t>(x % 700), '\0');
        for (auto& c : buf) {
            x = x * 1103515245 + 12345;
            c = static_cast<char>(x >> 16);
        }
        (void)parse_payload(buf);
        // Mutate a valid payload too.
        auto p = serialize_payload(sample());
        x = x * 1103515245 + 12345;
        p[(x >> 8) % p.size()] = static_cast<char>(x >> 3);
        auto r = parse_payload(p);
        if (!r) continue;
        for (const auto& e : r->entries) {
            EXPECT_EQ(e.mode & ~0777u, 0u);
            EXPECT_GE(static_cast<int>(e.type), 1);
            EXPECT_LE(static_cast<int>(e.type), 5);
            EXPECT_EQ(e.name.find('/'), std::string::npos);
            EXPECT_NE(e.name, "..");
        }
    }
}

TEST(Hostile, AbsurdCounts) {
    IndexContent c;
    std::string p = serialize_payload(c);
    p[0] = p[1] = p[2] = p[3] = '\xff';  // 4 billion entries in a few bytes
    EXPECT_FALSE(parse_payload(p));
    // xattr count field of the first entry: absurd.
    auto e = entry("a", "a");
    IndexContent one;
    one.entries.push_back(e);
    p = serialize_payload(one);
    const std::size_t xc = kFirstEntry + 64;  // the entry's xattr_count field
    ASSERT_LT(xc + 4, p.size());
    p[xc] = p[xc + 1] = p[xc + 2] = p[xc + 3] = '\xff';
    EXPECT_FALSE(parse_payload(p));
}

IndexContent with(Entry e) {
    IndexContent c;
    c.entries.push_back(std::move(e));
    return c;
}

TEST(Hostile, BadNamesAreDropped) {
    for (std::string bad : {std::string(".."), std::string("."), std::string("a/b"),
                            std::string("x\0y", 3), std::string()}) {
        std::vector<std::string> problems;
        auto r = parse_payload(serialize_payload(with(entry(bad, "ok"))), &problems);
        ASSERT_TRUE(r);
        EXPECT_TRUE(r->entries.empty()) << bad;
        EXPECT_FALSE(problems.empty());
        r = parse_payload(serialize_payload(with(entry("ok", bad))));
        ASSERT_TRUE(r);
        if (bad.empty())
            EXPECT_TRUE(r->entries.empty());  // neither backing name nor link
        else
            EXPECT_TRUE(r->entries.empty()) << bad;
    }
    // The index file itself must never be exposed as a user file.
    auto r = parse_payload(serialize_payload(with(entry("x", "pershome.idx"))));
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->entries.empty());
}

TEST(Hostile, ModesAndTypesSanitised) {
    auto e = entry("s", "s");
    e.mode = 04777;
    auto p = serialize_payload(with(e));
    // serialize masks; forge the mode field directly (offset of mode in entry).
    const std::size_t mode_off = kFirstEntry + 8;
    p[mode_off + 1] = '\x0f';  // 0xfff? -> setuid|setgid|sticky bits set
    auto r = parse_payload(p);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->entries.size(), 1u);
    EXPECT_EQ(r->entries[0].mode & ~0777u, 0u);
    // Type 6 (a would-be device node) and 0 are dropped.
    p = serialize_payload(with(e));
    p[kFirstEntry + 4] = 6;
    r = parse_payload(p);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->entries.empty());
}

TEST(Hostile, DuplicatesAndAliasesDropped) {
    IndexContent c;
    c.entries.push_back(entry("a", "a"));
    c.entries.push_back(entry("a", "b"));
    c.entries.push_back(entry("c", "a"));
    auto r = parse_payload(serialize_payload(c));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->entries.size(), 1u);
    EXPECT_EQ(r->entries[0].real, "a");
}

TEST(Hostile, OversizedFieldsRejected) {
    auto e = entry("t", "t");
    e.type = NodeType::Symlink;
    e.target = std::string(kMaxTargetLen + 1, 'x');
    EXPECT_FALSE(parse_payload(serialize_payload(with(e))));
    e.target = "ok";
    e.xattrs["user.big"] = std::string(kMaxXattrValue + 1, 'v');
    EXPECT_FALSE(parse_payload(serialize_payload(with(e))));
    e.xattrs.clear();
    e.xattrs["trusted.evil"] = "v";
    e.xattrs["user.fine"] = "v";
    auto r = parse_payload(serialize_payload(with(e)));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->entries.size(), 1u);
    EXPECT_EQ(r->entries[0].xattrs.size(), 1u);
    EXPECT_TRUE(r->entries[0].xattrs.count("user.fine"));
}

TEST(Hostile, SlotHeaderLiesAboutLength) {
    auto s = encode_slot(1, kSlotAlign, serialize_payload(sample()));
    s[28] = '\xff';
    s[29] = '\xff';
    s[30] = '\xff';
    // Re-seal the header so only the length lie remains.
    const auto crc = crc32c(s.data(), 60);
    for (int i = 0; i < 4; ++i) s[60 + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
    EXPECT_FALSE(find_newest_slot(s));
}

}  // namespace
}  // namespace pershome::fs
