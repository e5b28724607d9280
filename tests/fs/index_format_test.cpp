#include "fs/index_format.hpp"

#include <algorithm>
#include <random>

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

// Every length (the 8-byte steps and the tail), every range of a buffer from
// the CRCs of its prefixes, against the byte-at-a-time definition.
TEST(Crc32c, SlicedAndRangesMatchTheBitwiseDefinition) {
    auto bitwise = [](std::string_view s) {
        std::uint32_t c = 0xFFFFFFFFu;
        for (unsigned char b : s) {
            c ^= b;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        }
        return ~c;
    };
    std::mt19937 rng(7);
    std::string buf(700, '\0');
    for (char& c : buf) c = static_cast<char>(rng());
    std::vector<std::uint32_t> prefix(buf.size() + 1);
    for (std::size_t i = 0; i <= buf.size(); ++i) {
        prefix[i] = crc32c(std::string_view(buf).substr(0, i));
        ASSERT_EQ(prefix[i], bitwise(std::string_view(buf).substr(0, i))) << i;
    }
    for (int k = 0; k < 2000; ++k) {
        const std::size_t a = rng() % buf.size(), b = a + rng() % (buf.size() - a + 1);
        EXPECT_EQ(crc32c_of_range(prefix[a], prefix[b], b - a),
                  crc32c(std::string_view(buf).substr(a, b - a)))
            << a << ".." << b;
    }
    // Lengths far past any buffer: the shift's exponent uses its high bits.
    const std::string zeros(1 << 20, '\0');
    std::uint32_t c = crc32c("head");
    const std::uint32_t head = c;
    for (int i = 0; i < 64; ++i) c = crc32c(zeros, c);
    EXPECT_EQ(crc32c_of_range(head, c, 64ull << 20),
              crc32c(zeros, crc32c(std::string(zeros.size() * 63, '\0'))));
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

// A link-pool entry whose data is under a name (AT_PATH): its path and,
// while a move is under way, the previous one survive a round trip; paths
// that could leave the backing root or name pershome's own files do not.
TEST(Payload, DataPathsRoundTripAndHostileOnesAreDropped) {
    IndexContent c;
    auto g = entry("0000000000000001", "docs/sub dir/report.txt");
    g.at_path = true;
    g.nlink = 3;
    c.entries.push_back(g);
    auto moving = entry("0000000000000002", "PERSHOME.LNK/0000000000000002");
    moving.at_path = true;
    moving.real_prev = "a/b";
    c.entries.push_back(moving);
    for (const char* bad : {"../etc/passwd", "/abs", "a//b", "a/./b", "a/PERSHOME.IDX",
                            "PERSHOME.LNK/PERSHOME.IDX", "PERSHOME.LNK", "a/", ""}) {
        auto e = entry(std::string("bad ") + bad, bad);
        e.at_path = true;
        c.entries.push_back(e);
    }
    auto prev_bad = entry("bad prev", "ok");
    prev_bad.at_path = true;
    prev_bad.real_prev = "../x";
    c.entries.push_back(prev_bad);
    std::vector<std::string> problems;
    const auto p = parse_payload(serialize_payload(c), &problems);
    ASSERT_TRUE(p);
    ASSERT_EQ(p->entries.size(), 2u);
    EXPECT_EQ(problems.size(), 10u);
    EXPECT_TRUE(p->entries[0].at_path);
    EXPECT_EQ(p->entries[0].real, "docs/sub dir/report.txt");
    EXPECT_EQ(p->entries[0].real_prev, "");
    EXPECT_EQ(p->entries[0].nlink, 3u);
    EXPECT_EQ(p->entries[1].real, "PERSHOME.LNK/0000000000000002");
    EXPECT_EQ(p->entries[1].real_prev, "a/b");
    // Never on a name entry: a path there is an invalid backing name.
    IndexContent d;
    auto n = entry("n", "a/b");
    d.entries.push_back(n);
    const auto q = parse_payload(serialize_payload(d), nullptr);
    ASSERT_TRUE(q);
    EXPECT_TRUE(q->entries.empty());
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

// ---- Version 2: delta records ----

std::string show(IndexContent c) {
    // A canonical form: the full payload of the content sorted by name (the
    // directory's own record reads back as a directory whatever it said).
    c.self.type = NodeType::Dir;
    return payload_from_records(to_records(c));
}

// An in-memory index file driven by the writer's own planner.
struct SimIndex {
    std::string file;
    IndexWriteState st;

    IndexWrite write(const IndexContent& c) {
        RecordSet now = to_records(c);
        IndexWrite w = plan_index_write(st, now);
        // Deltas never grow the file: the slot before made room.
        if (w.kind == IndexWrite::Kind::Delta) {
            EXPECT_LE(w.offset + w.bytes.size(), file.size());
        }
        if (w.kind != IndexWrite::Kind::Nothing) {
            if (file.size() < w.offset + w.bytes.size())
                file.resize(w.offset + w.bytes.size(), '\0');
            file.replace(w.offset, w.bytes.size(), w.bytes);
            if (file.size() < w.extend_to) file.resize(w.extend_to, '\0');
        }
        commit_index_write(st, w, std::move(now));
        return w;
    }
    std::string read() const {
        const auto r = read_index(file);
        return r ? show(r->content) : std::string("<none>");
    }
};

Entry odd(int i, std::uint32_t mode = 0600) {
    auto e = entry("odd:" + std::to_string(i) + "?", "odd_" + std::to_string(i) + "~1");
    e.mode = mode;
    return e;
}

TEST(Delta, RecordsGiveTheSamePayload) {
    auto c = sample();
    std::sort(c.entries.begin(), c.entries.end(),
              [](const Entry& a, const Entry& b) { return a.name < b.name; });
    EXPECT_EQ(payload_from_records(to_records(c)), serialize_payload(c));
}

TEST(Delta, DiffAppliedGivesTheNewContent) {
    IndexContent a = sample();
    a.self.type = NodeType::Dir;
    IndexContent b = a;
    // Changed mode, a removal, a new entry, a rename keeping the backing
    // name, an exchange of backing names, and the directory's own record.
    b.entries[0].mode = 0600;
    b.entries.erase(b.entries.begin() + 1);
    b.entries.push_back(entry("new one", "new one"));
    b.entries.push_back(entry("renamed", "makefile~0badf00d"));
    std::swap(b.entries[1].real, b.entries[3].real);  // link <-> x~1
    b.self.mode = 0711;
    const auto ra = to_records(a), rb = to_records(b);
    const auto d = diff_payload(ra, rb, 1 << 20);
    ASSERT_TRUE(d && !d->empty());
    std::vector<std::string> problems;
    const auto ops = parse_delta_payload(*d, &problems);
    ASSERT_TRUE(ops);
    EXPECT_TRUE(problems.empty());
    IndexContent got = a;
    apply_delta(got, *ops, &problems);
    EXPECT_TRUE(problems.empty());
    EXPECT_EQ(show(got), show(b));
    EXPECT_EQ(got.self.mode, 0711u);
    EXPECT_EQ(serialize_delta_payload(*ops), *d);
    // No change: nothing to write; over the limit: nullopt.
    EXPECT_EQ(diff_payload(ra, ra, 1 << 20), std::string());
    EXPECT_FALSE(diff_payload(ra, rb, 20));
}

TEST(Delta, SmallChangeWritesASmallDeltaThenABase) {
    SimIndex sim;
    IndexContent c;
    for (int i = 0; i < 200; ++i) c.entries.push_back(odd(i));
    EXPECT_EQ(sim.write(c).kind, IndexWrite::Kind::Base);
    EXPECT_EQ(sim.read(), show(c));
    std::size_t deltas = 0, bases = 0, delta_bytes = 0;
    for (int i = 200; i < 400; ++i) {
        c.entries.push_back(odd(i));
        const auto w = sim.write(c);
        if (w.kind == IndexWrite::Kind::Delta) {
            ++deltas;
            delta_bytes += w.bytes.size();
            EXPECT_EQ(w.bytes.size(), kSlotAlign);  // one entry: one page
        } else {
            ++bases;
        }
        ASSERT_EQ(sim.read(), show(c)) << i;
    }
    EXPECT_GT(deltas, 150u);
    EXPECT_GT(bases, 0u);  // the budget ran out now and then
    EXPECT_EQ(sim.write(c).kind, IndexWrite::Kind::Nothing);
    // Removing and changing works through deltas too.
    c.entries.erase(c.entries.begin() + 7);
    c.entries[3].mode = 0644;
    c.self.mode = 0700;
    sim.write(c);
    EXPECT_EQ(sim.read(), show(c));
}

// For every write of a writer's life (deltas, the bases that follow them,
// bases that grow), the file torn at every 512-byte sector reads as the
// state before or the state after, never anything else.
TEST(Delta, EveryTornWriteLeavesOldOrNew) {
    SimIndex sim;
    IndexContent c;
    std::mt19937 rng(7);
    int checked = 0, delta_writes = 0, base_writes = 0;
    for (int step = 0; step < 300; ++step) {
        const std::string before_file = sim.file;
        const std::string before = sim.read();
        const int what = static_cast<int>(rng() % 10);
        if (what < 6 || c.entries.empty()) {
            c.entries.push_back(odd(step, 0600 + static_cast<std::uint32_t>(rng() % 64)));
        } else if (what < 8) {
            c.entries.erase(c.entries.begin() + static_cast<long>(rng() % c.entries.size()));
        } else {
            c.entries[rng() % c.entries.size()].mode = rng() % 0777;
        }
        const auto w = sim.write(c);
        const std::string after = sim.read();
        ASSERT_EQ(after, show(c));
        if (w.kind == IndexWrite::Kind::Nothing) continue;
        (w.kind == IndexWrite::Kind::Delta ? delta_writes : base_writes)++;
        for (std::size_t cut = 0; cut < w.bytes.size(); cut += 512) {
            std::string torn = before_file;
            if (torn.size() < w.offset + w.bytes.size())
                torn.resize(w.offset + w.bytes.size(), '\0');
            torn.replace(w.offset, cut, w.bytes.substr(0, cut));
            const auto r = read_index(torn);
            const std::string v = r ? show(r->content) : std::string("<none>");
            ASSERT_TRUE(v == before || v == after) << "step " << step << " cut " << cut;
            // Sectors written out of order: only the last sector missing.
            ++checked;
        }
        // Any single sector of the write missing (a device reorders).
        for (std::size_t hole = 0; hole < w.bytes.size(); hole += 512) {
            std::string torn = sim.file;
            const std::size_t n = std::min<std::size_t>(512, w.bytes.size() - hole);
            std::string old = before_file;
            if (old.size() < sim.file.size()) old.resize(sim.file.size(), '\0');
            torn.replace(w.offset + hole, n, old.substr(w.offset + hole, n));
            const auto r = read_index(torn);
            const std::string v = r ? show(r->content) : std::string("<none>");
            ASSERT_TRUE(v == before || v == after) << "step " << step << " hole " << hole;
        }
    }
    EXPECT_GT(delta_writes, 100);
    EXPECT_GT(base_writes, 3);
    EXPECT_GT(checked, 500);
}

TEST(Delta, ChainStopsAtAGapAndIgnoresOtherBases) {
    IndexContent c;
    c.entries.push_back(odd(0));
    const std::string base = encode_slot(5, kSlotAlign, serialize_payload(c));
    auto delta = [&](std::uint64_t gen, std::uint64_t seq, int i) {
        IndexContent to = c;
        to.entries.push_back(odd(i));
        return encode_delta(gen, seq, *diff_payload(to_records(c), to_records(to), 1 << 20));
    };
    std::string f = base;
    f.resize(2 * kSlotAlign, '\0');
    f += delta(5, 1, 1);
    f += delta(4, 2, 2);  // another base's: stale
    f += delta(5, 3, 3);  // after a gap: never applied
    auto r = read_index(f);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->deltas.size(), 1u);
    EXPECT_TRUE(r->strays);
    ASSERT_EQ(r->content.entries.size(), 2u);
    EXPECT_EQ(r->content.entries[1].name, "odd:1?");
    // A torn or corrupt record ends the chain as well.
    f[2 * kSlotAlign + 100] ^= 1;
    r = read_index(f);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->deltas.size(), 0u);
    EXPECT_EQ(r->content.entries.size(), 1u);
    // Twins: the lowest offset wins.
    std::string g = base;
    g.resize(kSlotAlign, '\0');
    g += delta(5, 1, 8);
    g += delta(5, 1, 9);
    r = read_index(g);
    ASSERT_TRUE(r && r->content.entries.size() == 2u);
    EXPECT_EQ(r->content.entries[1].name, "odd:8?");
    EXPECT_TRUE(r->strays);
    // A delta alone is no index.
    EXPECT_FALSE(read_index(delta(5, 1, 1)));
    // A delta never counts as a slot.
    EXPECT_FALSE(find_newest_slot(delta(5, 1, 1)));
}

TEST(Delta, HostileRecords) {
    auto ops_of = [](const std::string& p) { return parse_delta_payload(p); };
    std::string p(8, '\0');
    p[0] = p[1] = p[2] = p[3] = '\xff';  // 2^32-1 operations in 8 bytes
    EXPECT_FALSE(ops_of(p));
    std::string unknown = std::string("\x01\0\0\0\0\0\0\0", 8) + "\x09";
    EXPECT_FALSE(ops_of(unknown));
    DeltaOp rm;
    rm.kind = DeltaOp::Kind::Remove;
    rm.name = "x";
    std::string trailing = serialize_delta_payload({rm}) + "junk";
    EXPECT_FALSE(ops_of(trailing));
    // Entries sanitised as in section 4: dropped, or clamped.
    DeltaOp up;
    up.entry = entry("..", "x");
    DeltaOp dev;
    dev.entry = entry("dev", "dev");
    dev.entry.type = static_cast<NodeType>(6);
    DeltaOp suid;
    suid.entry = entry("suid", "pershome.idx");
    DeltaOp good;
    good.entry = entry("good", "good");
    good.entry.mode = 0777;
    DeltaOp badrm;
    badrm.kind = DeltaOp::Kind::Remove;
    badrm.name = "a/b";
    DeltaOp self;
    self.kind = DeltaOp::Kind::Self;
    self.entry = entry("", "");
    self.entry.type = NodeType::Symlink;
    std::vector<std::string> problems;
    auto ops =
        parse_delta_payload(serialize_delta_payload({up, dev, suid, good, badrm, self}), &problems);
    ASSERT_TRUE(ops);
    ASSERT_EQ(ops->size(), 2u);
    EXPECT_EQ((*ops)[0].entry.name, "good");
    EXPECT_EQ((*ops)[1].entry.type, NodeType::Dir);
    EXPECT_EQ(problems.size(), 5u);  // the self record's type too
    // Two upserts claiming one backing name, and one claiming an existing
    // entry's: first upsert wins, no alias survives.
    IndexContent c;
    c.entries.push_back(entry("old", "shared"));
    DeltaOp u1, u2;
    u1.entry = entry("n1", "shared");
    u2.entry = entry("n2", "shared");
    apply_delta(c, {u1, u2});
    ASSERT_EQ(c.entries.size(), 1u);
    EXPECT_EQ(c.entries[0].name, "n1");
    // Header lies: sequence 0, generation too high, length past the end.
    IndexContent base;
    const std::string slot = encode_slot(1, kSlotAlign, serialize_payload(base));
    auto with = [&](std::string d) {
        std::string f = slot;
        f.resize(kSlotAlign, '\0');
        return f + d;
    };
    const std::string payload = serialize_delta_payload({good});
    EXPECT_EQ(read_index(with(encode_delta(1, 1, payload)))->content.entries.size(), 1u);
    EXPECT_EQ(read_index(with(encode_delta(1, 0, payload)))->content.entries.size(), 0u);
    std::string lie = encode_delta(1, 1, payload);
    lie[32] = lie[33] = lie[34] = '\x7f';
    const auto crc = crc32c(lie.data(), 60);
    for (int i = 0; i < 4; ++i) lie[60 + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
    EXPECT_EQ(read_index(with(lie))->content.entries.size(), 0u);
}

TEST(Delta, PlacementProtectsBaseAndDeltas) {
    IndexLayout l;
    EXPECT_FALSE(place_next_delta(l, kSlotAlign));  // no base: a full slot
    l.base = SlotSpan{0, 3000};
    l.capacity = 8192;
    auto off = place_next_delta(l, kSlotAlign);
    ASSERT_TRUE(off);
    EXPECT_EQ(*off, 16384u);  // past both regions
    l.deltas.push_back({*off, 200});
    EXPECT_EQ(*place_next_delta(l, kSlotAlign), 20480u);
    // The next base fits the other region, apart from the deltas.
    auto p = place_next_base(l, 5000);
    EXPECT_EQ(p.offset, 8192u);
    // A base that must grow would land on the deltas: it goes past them.
    p = place_next_base(l, 9000);
    EXPECT_GE(p.offset, 20480u);
    EXPECT_EQ(p.offset, p.capacity);
    // A hostile capacity is not trusted for delta placement either.
    l.capacity = 0x80000000u;
    l.deltas.clear();
    EXPECT_EQ(*place_next_delta(l, kSlotAlign), 4096u);
    // The budget runs out.
    l.capacity = 8192;
    for (std::uint64_t o = 16384; o < 16384 + kDeltaMinBudget; o += kSlotAlign)
        l.deltas.push_back({o, 100});
    EXPECT_FALSE(place_next_delta(l, kSlotAlign));
}

// Slot G+1 damaged on the medium after deltas of it were written: the
// reader falls back to G, and the next full slot must not be G+1 again, or
// the old deltas of G+1 would apply to it. (Found by fuzz_index.)
TEST(Delta, DeltasOfALostSlotNeverApplyToItsSuccessor) {
    SimIndex sim;
    IndexContent c;
    c.entries.push_back(odd(0));
    sim.write(c);  // generation 1 at 0
    c.entries.push_back(odd(1));
    sim.st.force_base = true;
    sim.write(c);  // generation 2 in the other region
    const std::uint64_t slot2 = sim.st.layout.base->offset;
    c.entries.push_back(odd(2));
    ASSERT_EQ(sim.write(c).kind, IndexWrite::Kind::Delta);  // delta 1 of generation 2
    sim.file[slot2 + 10] ^= 1;                              // slot 2 lost
    const auto r = read_index(sim.file);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->base.generation, 1u);
    EXPECT_EQ(r->max_delta_base, 2u);
    SimIndex again;
    again.file = sim.file;
    again.st.layout.base = SlotSpan{r->base.offset, r->base.length};
    again.st.layout.capacity = r->base.capacity;
    again.st.generation = r->base.generation;
    again.st.on_stick = to_records(r->content);
    again.st.generation_floor = r->max_delta_base;
    IndexContent d = r->content;
    d.entries.push_back(odd(9));
    again.st.force_base = true;
    const auto w = again.write(d);
    EXPECT_EQ(w.generation, 3u);
    EXPECT_EQ(again.read(), show(d));
}

}  // namespace
}  // namespace pershome::fs
