// Writes the seed corpus of the fuzz targets: `fuzz_make_corpus DIR` creates
// DIR/index/ and DIR/names/. The index seeds come from the real serializer
// (serialize_payload, encode_slot, place_next_slot), so they track the
// format; the hostile ones are such files patched afterwards and mostly
// re-sealed with valid checksums, so that they reach the parser's
// sanitising instead of stopping at the CRC. Run by hand after a format
// change (tests/fuzz/run --seeds) and commit the result.
//
// Inputs that trip a known fs/ bug go to CRASHERS_DIR instead
// (tests/fuzz/crashers/, which neither CI nor the corpus replay uses).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fs/crc32c.hpp"
#include "fs/index_format.hpp"
#include "fs/name_codec.hpp"

using namespace pershome::fs;
namespace stdfs = std::filesystem;

namespace {

stdfs::path g_out;

void emit(const std::string& target, const std::string& name, const std::string& bytes) {
    const stdfs::path dir = g_out / target;
    stdfs::create_directories(dir);
    std::ofstream(dir / name, std::ios::binary | std::ios::trunc) << bytes;
}

void put32(std::string& s, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}
void put64(std::string& s, std::size_t at, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}

// Re-seals a slot at `off` after patching: payload CRC, then header CRC.
void seal(std::string& file, std::size_t off = 0) {
    const std::uint32_t len =
        static_cast<std::uint8_t>(file[off + 28]) | static_cast<std::uint8_t>(file[off + 29]) << 8 |
        static_cast<std::uint8_t>(file[off + 30]) << 16 |
        static_cast<std::uint32_t>(static_cast<std::uint8_t>(file[off + 31])) << 24;
    if (off + 64 + len <= file.size())
        put32(file, off + 32, crc32c(file.data() + off + 64, std::size_t{len}));
    put32(file, off + 60, crc32c(file.data() + off, std::size_t{60}));
}

// Re-seals a delta record at `off`: payload CRC (when it fits), header CRC.
void seal_delta(std::string& file, std::size_t off) {
    const std::uint32_t len =
        static_cast<std::uint8_t>(file[off + 32]) | static_cast<std::uint8_t>(file[off + 33]) << 8 |
        static_cast<std::uint8_t>(file[off + 34]) << 16 |
        static_cast<std::uint32_t>(static_cast<std::uint8_t>(file[off + 35])) << 24;
    if (off + 64 + std::uint64_t{len} <= file.size())
        put32(file, off + 36, crc32c(file.data() + off + 64, std::size_t{len}));
    put32(file, off + 60, crc32c(file.data() + off, std::size_t{60}));
}

// A single-slot index file holding `payload`, as write_index makes it.
std::string one_slot(const std::string& payload, std::uint64_t gen = 1) {
    const SlotPlace p = place_next_slot(std::nullopt, 0, 64 + payload.size());
    return encode_slot(gen, p.capacity, payload);
}

Entry file_entry(std::string name, std::string real = {}) {
    Entry e;
    e.real = real.empty() ? name : std::move(real);
    e.name = std::move(name);
    e.mtime = {1700000000, 123456789};
    e.atime = {1700000001, 0};
    e.ctime = {-1, 999999999};
    return e;
}

IndexContent every_kind() {
    IndexContent c;
    c.self.mode = 0700;
    c.self.mtime = {1600000000, 5};
    c.entries.push_back(file_entry("README.txt"));
    auto dir = file_entry("Documents");
    dir.type = NodeType::Dir;
    dir.mode = 0755;
    c.entries.push_back(dir);
    auto odd = file_entry("what?.txt", generated_name("what?.txt", 0));
    odd.mode = 0600;
    c.entries.push_back(odd);
    auto link = file_entry(".bashrc", generated_name(".bashrc", 1));
    link.type = NodeType::Symlink;
    link.target = "../etc/skel/.bashrc";
    c.entries.push_back(link);
    auto fifo = file_entry("pipe", generated_name("pipe", 0));
    fifo.type = NodeType::Fifo;
    c.entries.push_back(fifo);
    auto sock = file_entry("sock", generated_name("sock", 0));
    sock.type = NodeType::Socket;
    c.entries.push_back(sock);
    auto hard = file_entry("hardlinked");
    hard.real.clear();
    hard.link_id = 0x2a;
    c.entries.push_back(hard);
    auto x = file_entry("with-xattrs");
    x.xattrs["user.mime_type"] = "text/plain";
    x.xattrs["user.empty"] = "";
    x.xattrs["user.bin"] = std::string("\0\xff\x01", 3);
    c.entries.push_back(x);
    c.entries.push_back(file_entry("caf\xc3\xa9 \xf0\x9f\x98\x80.md"));
    c.entries.push_back(file_entry("bad\xff\xfeutf8", generated_name("bad\xff\xfeutf8", 0)));
    c.entries.push_back(file_entry("CON.txt", generated_name("CON.txt", 0)));
    return c;
}

// Offsets inside a payload of the first entry record's fields.
constexpr std::size_t kFirst = 8 + 68;
constexpr std::size_t kFlags = kFirst + 5, kMode = kFirst + 8;
constexpr std::size_t kNlink = kFirst + 56, kTargetLen = kFirst + 60, kXattrCount = kFirst + 64;

IndexContent one(Entry e) {
    IndexContent c;
    c.entries.push_back(std::move(e));
    return c;
}

// Writes a hostile payload both bare and sealed in a slot.
void hostile(const std::string& name, const std::string& payload) {
    emit("index", "payload-" + name, payload);
    emit("index", "hostile-" + name, one_slot(payload));
}

void index_seeds() {
    const std::string every = serialize_payload(every_kind());
    emit("index", "payload-every-kind", every);
    emit("index", "valid-every-kind", one_slot(every));
    emit("index", "valid-empty-dir", one_slot(serialize_payload(IndexContent{})));

    // Both regions in use, newest second and newest first.
    {
        const std::string a = one_slot(serialize_payload(one(file_entry("old"))), 1);
        std::string f = a;
        f.resize(kSlotAlign, '\0');
        f += encode_slot(2, kSlotAlign, every);
        emit("index", "valid-two-slots", f);
        std::string g = encode_slot(7, kSlotAlign, every);
        g.resize(kSlotAlign, '\0');
        g += encode_slot(6, kSlotAlign, serialize_payload(one(file_entry("old"))));
        emit("index", "valid-two-slots-newest-first", g);
    }
    // A grown index: the slot no longer fits 4096, written past the old one.
    {
        IndexContent big;
        for (int i = 0; i < 60; ++i) {
            char n[32];
            std::snprintf(n, sizeof n, "file-%02d.dat", i);
            big.entries.push_back(file_entry(n));
        }
        const std::string small = one_slot(serialize_payload(one(file_entry("a"))), 1);
        const std::string payload = serialize_payload(big);
        const SlotPlace p =
            place_next_slot(SlotSpan{0, small.size()}, kSlotAlign, 64 + payload.size());
        std::string f = small;
        f.resize(p.offset, '\0');
        f += encode_slot(2, p.capacity, payload);
        emit("index", "valid-grown", f);
    }
    // The link pool's own index: names are link ids, with link counts.
    {
        IndexContent pool;
        for (std::uint64_t id : {0x1ull, 0x2aull, 0xffffffffffffffffull}) {
            char n[17];
            std::snprintf(n, sizeof n, "%016llx", static_cast<unsigned long long>(id));
            auto e = file_entry(n);
            e.nlink = id == 1 ? 2 : 65000;
            pool.entries.push_back(e);
        }
        emit("index", "valid-link-pool", one_slot(serialize_payload(pool)));
        // Groups whose data is under a name (AT_PATH), one in mid-move.
        auto at = file_entry("0000000000000003");
        at.at_path = true;
        at.real = "docs/sub/report.txt";
        pool.entries.push_back(at);
        at.name = "0000000000000004";
        at.real = "PERSHOME.LNK/0000000000000004";
        at.real_prev = "a/b";
        pool.entries.push_back(at);
        emit("index", "valid-link-pool-at-path", one_slot(serialize_payload(pool)));
    }

    // Container damage.
    const std::string good = one_slot(every);
    emit("index", "hostile-truncated-payload", good.substr(0, good.size() / 2));
    emit("index", "hostile-truncated-header", good.substr(0, 40));
    {
        std::string f = good.substr(0, good.size() / 2);
        put32(f, 28, static_cast<std::uint32_t>(f.size() - 64));
        seal(f);  // checksums fine, payload cut in the middle of a record
        emit("index", "hostile-truncated-sealed", f);
    }
    {
        std::string f = good;
        f[100] ^= 1;
        emit("index", "hostile-bad-payload-crc", f);
        f = good;
        f[20] ^= 1;
        emit("index", "hostile-bad-header-crc", f);
        f = good;
        put32(f, 8, 2);
        seal(f);
        emit("index", "hostile-version-2", f);
        f = good;
        put32(f, 12, 128);
        seal(f);
        emit("index", "hostile-header-size", f);
        f = good;
        put32(f, 28, 0xFFFFFFFFu);
        seal(f);
        emit("index", "hostile-payload-length-huge", f);
        // Two slots with the same generation: either may win.
        std::string g = good;
        g.resize(kSlotAlign, '\0');
        g += encode_slot(1, kSlotAlign, serialize_payload(one(file_entry("twin"))));
        emit("index", "hostile-same-generation", g);
    }

    // Structure: makes the whole payload unusable.
    {
        std::string p = every;
        put32(p, 0, 0xFFFFFFFFu);
        hostile("count-huge", p);
        p = every;
        put32(p, 0, 1000);
        hostile("count-past-end", p);
        const std::string ok = serialize_payload(one(file_entry("x")));
        p = ok;
        put32(p, kTargetLen, 0xFFFFFFFFu);
        hostile("target-len-huge", p);
        p = ok;
        put32(p, kXattrCount, 0xFFFFFFFFu);
        hostile("xattr-count-huge", p);
        p = ok;
        p[kFirst] = static_cast<char>(0xFF);  // name_len 0x??FF: past the end
        p[kFirst + 1] = static_cast<char>(0xFF);
        hostile("name-len-huge", p);
        p = ok;
        p[kFirst + 2] = static_cast<char>(0x01);  // real_len 0x0401 > 1024
        p[kFirst + 3] = static_cast<char>(0x04);
        hostile("real-len-over-limit", p);
        auto big = file_entry("big");
        big.xattrs["user.v"] = "v";
        p = serialize_payload(one(big));
        // value_len of that xattr: after the fixed part and the 3-byte name
        // (the backing name is REAL_IS_NAME, no bytes), past its u16 key_len.
        put32(p, kFirst + 68 + 3 + 2, kMaxXattrValue + 1);
        hostile("xattr-value-too-big", p);
        p = ok;
        p[kFlags] = 2;  // REAL_IS_NAME with a backing name present
        hostile("real-is-name-with-real", p);
    }

    // Entries the parser must drop or sanitise.
    {
        auto named = [](std::string n, std::string real) { return one(file_entry(n, real)); };
        hostile("dotdot-name", serialize_payload(named("..", "x")));
        hostile("dot-name", serialize_payload(named(".", "x")));
        hostile("slash-name", serialize_payload(named("../../etc/passwd", "x")));
        hostile("nul-name", serialize_payload(named(std::string("a\0b", 3), "x")));
        hostile("dotdot-real", serialize_payload(named("x", "..")));
        hostile("slash-real", serialize_payload(named("x", "../../../etc/shadow")));
        hostile("reserved-real", serialize_payload(named("x", "pershome.idx")));
        hostile("reserved-real-pool", serialize_payload(named("x", "PERSHOME.LNK")));
        hostile("name-256", serialize_payload(named(std::string(256, 'n'), "x")));
        hostile("name-255", serialize_payload(named(std::string(255, 'n'), "x")));
        hostile("real-1024", serialize_payload(named("x", std::string(1024, 'r'))));
        auto no_real = file_entry("x");
        no_real.real.clear();
        hostile("no-real-not-linked", serialize_payload(one(no_real)));

        std::string p = serialize_payload(one(file_entry("suid")));
        put32(p, kMode, 04755);
        hostile("setuid", p);
        put32(p, kMode, 0xFFFFFFFFu);
        hostile("mode-all-bits", p);
        put32(p, kMode, 060660);  // S_IFBLK | 0660
        hostile("mode-block-device", p);
        for (int t : {0, 6, 7, 0x21, 0xFF}) {
            auto dev = file_entry("dev");
            dev.type = static_cast<NodeType>(t);
            hostile("type-" + std::to_string(t), serialize_payload(one(dev)));
        }
        p = serialize_payload(one(file_entry("linked")));
        p[kFlags] = 1;  // LINKED with link id 0
        hostile("linked-id-0", p);
        p = serialize_payload(one(file_entry("nlink")));
        put32(p, kNlink, 0);
        hostile("nlink-0", p);
        put32(p, kNlink, 1000000);
        hostile("nlink-huge", p);
        auto t = file_entry("times");
        t.mtime = {INT64_MIN, 4000000000u};
        t.atime = {INT64_MAX, 1000000000u};
        hostile("times-absurd", serialize_payload(one(t)));
        auto sym = file_entry("sym");
        sym.type = NodeType::Symlink;
        hostile("symlink-no-target", serialize_payload(one(sym)));
        sym.target = std::string("a\0b", 3);
        hostile("symlink-nul-target", serialize_payload(one(sym)));
        sym.target = std::string(kMaxTargetLen, 't');
        hostile("symlink-target-4095", serialize_payload(one(sym)));
        auto xa = file_entry("xattrs");
        xa.xattrs["trusted.overlay.opaque"] = "y";
        xa.xattrs["security.capability"] = "cap";
        xa.xattrs["user."] = "nokey";
        xa.xattrs[std::string("user.a\0b", 8)] = "nul";
        // (Over kMaxXattrTotal would take a 256 KiB seed: left to the unit
        // tests, the corpus stays small.)
        xa.xattrs["user.ok"] = "kept";
        hostile("xattrs-hostile", serialize_payload(one(xa)));

        // Collisions: a name twice, and two names for one backing file.
        IndexContent dup;
        dup.entries.push_back(file_entry("same", "a"));
        dup.entries.push_back(file_entry("same", "b"));
        dup.entries.push_back(file_entry("other", "a"));
        dup.entries.push_back(file_entry("a"));  // backing "a" a third time
        hostile("duplicates", serialize_payload(dup));
    }
}

// Version 2: index files with delta records, made by the writer's own
// planner, and hostile variants of them (re-sealed).
void delta_seeds() {
    // A writer's life: a base, then deltas (adds, a removal, a mode change,
    // the directory's own record), as plan_index_write lays them out.
    IndexWriteState st;
    std::string file;
    IndexContent c = every_kind();
    auto write = [&](const IndexContent& now) {
        RecordSet r = to_records(now);
        const IndexWrite w = plan_index_write(st, r);
        if (w.kind == IndexWrite::Kind::Nothing) return w;
        if (file.size() < w.offset + w.bytes.size()) file.resize(w.offset + w.bytes.size(), '\0');
        file.replace(w.offset, w.bytes.size(), w.bytes);
        commit_index_write(st, w, std::move(r));
        return w;
    };
    write(c);
    c.entries.push_back(file_entry("new?", "new_~1"));
    const IndexWrite d1 = write(c);
    c.entries.erase(c.entries.begin());
    write(c);
    c.entries[0].mode = 0600;
    c.self.mode = 0751;
    write(c);
    emit("index", "delta-chain-3", file);

    // The record of sequence 2 torn (payload CRC fails): the chain ends at 1.
    {
        std::string f = file;
        f[st.layout.deltas[1].offset + 70] ^= 0x55;
        emit("index", "delta-torn-2", f);
    }
    // A stale record of an older base at the place of the next sequence.
    {
        std::string f = file;
        const std::string stale = encode_delta(st.generation - 1, 4, std::string(8, '\0'));
        const std::uint64_t at = st.layout.deltas.back().offset + kSlotAlign;
        f.resize(at, '\0');
        f += stale;
        emit("index", "delta-stale-base", f);
    }
    // Twins, and a gap.
    {
        std::string f = file;
        f += d1.bytes;  // sequence 1 again, higher up: the lower one counts
        f += encode_delta(st.generation, 9, d1.bytes.substr(64, 8));
        emit("index", "delta-twin-and-gap", f);
    }
    // Then the budget runs out and a full slot follows the deltas.
    for (int i = 0; i < 20; ++i) {
        c.entries.push_back(file_entry("more:" + std::to_string(i), "more_" + std::to_string(i)));
        write(c);
    }
    emit("index", "delta-after-rebase", file);

    // Hostile payloads, sealed in a record of the right base.
    auto sealed = [&](const std::string& payload) {
        IndexWriteState one;
        std::string f;
        const RecordSet r = to_records(every_kind());
        const IndexWrite w = plan_index_write(one, r);
        f = w.bytes;
        f.resize(2 * kSlotAlign * 2, '\0');
        f += encode_delta(1, 1, payload);
        return f;
    };
    auto both = [&](const std::string& name, const std::string& payload) {
        emit("index", "delta-payload-" + name, payload);
        emit("index", "delta-hostile-" + name, sealed(payload));
    };
    std::string p(8, '\0');
    put32(p, 0, 0xFFFFFFFFu);
    both("count-huge", p);
    put32(p, 0, 1);
    both("kind-unknown", p + "\x07");
    DeltaOp bad;
    bad.entry = file_entry("../../etc/passwd", "x");
    DeltaOp dev;
    dev.entry = file_entry("dev");
    dev.entry.type = static_cast<NodeType>(6);
    DeltaOp alias1, alias2;
    alias1.entry = file_entry("a1", "README.txt");
    alias2.entry = file_entry("a2", "README.txt");
    DeltaOp rm;
    rm.kind = DeltaOp::Kind::Remove;
    rm.name = "README.txt";
    DeltaOp rmbad;
    rmbad.kind = DeltaOp::Kind::Remove;
    rmbad.name = "a/b";
    DeltaOp self;
    self.kind = DeltaOp::Kind::Self;
    self.entry.type = NodeType::Symlink;
    self.entry.mode = 07777;
    both("sanitised", serialize_delta_payload({bad, dev, alias1, alias2, rmbad, self}));
    both("remove-then-alias", serialize_delta_payload({rm, alias1}));
    both("trailing", serialize_delta_payload({rm}) + "junk");
    // Header lies: sequence 0, absurd length, base generation 2^64-1.
    {
        const std::string pl = serialize_delta_payload({rm});
        std::string f = sealed(pl);
        const std::size_t at = f.size() - kSlotAlign;
        put64(f, at + 24, 0);
        seal_delta(f, at);
        emit("index", "delta-hostile-seq-0", f);
        put64(f, at + 24, 1);
        put32(f, at + 32, 0xFFFFFFF0u);
        seal_delta(f, at);
        emit("index", "delta-hostile-length-huge", f);
        put32(f, at + 32, static_cast<std::uint32_t>(pl.size()));
        put64(f, at + 16, ~0ull);
        seal_delta(f, at);
        emit("index", "delta-hostile-base-gen-max", f);
    }
}

// Hostile capacity fields: valid, checksummed index files whose only
// oddity is that field, which place_next_slot once trusted (fixed in
// 6d77ad7; these were tests/fuzz/crashers/ until then).
void capacity_seeds() {
    const std::string every = serialize_payload(every_kind());
    auto with_capacity = [&](std::uint32_t cap) {
        std::string f = one_slot(every);
        put32(f, 24, cap);
        seal(f);
        return f;
    };
    // Was: the next slot at offset 2 GiB (FAT zero-fills it).
    emit("index", "hostile-capacity-2GiB", with_capacity(0x80000000u));
    // Was: growth to 2 x 5000 = offset 10000, which the reader never scans.
    emit("index", "hostile-capacity-unaligned", with_capacity(5000));
    // Was: growth to offset 0x100002000 with the capacity truncated to 0x2000.
    std::string f = one_slot(serialize_payload(one(file_entry("old"))), 1);
    f.resize(kSlotAlign, '\0');
    f += encode_slot(2, 0x80001000u, every);
    emit("index", "hostile-capacity-u32-overflow", f);
}

// Inputs for the known bug of tests/fuzz/crashers/README, a valid index
// whose newest slot has generation 2^64-1: the next one wraps to 0 and loses.
void crashers(const stdfs::path& dir) {
    g_out = dir;
    std::string f = one_slot(serialize_payload(every_kind()));
    put64(f, 16, ~0ull);
    seal(f);
    emit("index", "index-generation-wrap", f);
}

void name(const std::string& file, unsigned char control, const std::string& names) {
    emit("names", file, std::string(1, static_cast<char>(control)) + names);
}

void names_seeds() {
    name("plain", 0, "hello.txt");
    name("forbidden-chars", 0, "what?.txt/a:b/c*d/\"q\"/<>|\\");
    name("control-chars", 0, std::string("tab\there/nl\nx/\x01\x1f", 17));
    name("dos-devices", 0, "CON/con.txt/Com1.tar.gz/LPT9/CONIN$/conout$.x/NUL .txt/AUX");
    name("dos-device-stem-dot", 0, "CON.t..");
    name("reserved", 0, "PERSHOME.IDX/pershome.lnk/PerShome.Idx.bak");
    name("dots-spaces", 0, "trailing./trailing /  leading/.hidden/.../. ./..x");
    name("dot-dotdot", 0, "./..");
    name("case-collisions", 0, "Readme/README/readme/readme?/README?");
    name("utf8", 0, "caf\xc3\xa9/\xf0\x9f\x98\x80.md/\xe2\x82\xac");
    name("invalid-utf8", 0,
         "\xff\xfe/\xc0\xaf/\xed\xa0\x80/\xf4\x90\x80\x80/\xe2\x82/\xc3/\xf8\x88\x80\x80\x80");
    name("nul", 0, std::string("a\0b", 3));
    name("long-255", 0, std::string(255, 'x'));
    name("long-256", 0, std::string(256, 'x'));
    {
        std::string emoji;
        for (int i = 0; i < 63; ++i) emoji += "\xf0\x9f\x98\x80";  // 252 bytes, 126 units
        name("long-emoji", 0, emoji + "abc");
        std::string e3;
        for (int i = 0; i < 85; ++i) e3 += "\xe2\x82\xac";  // 255 bytes, 85 units
        name("long-3byte", 0, e3);
    }
    name("long-extension", 0, "archive.thisextensionislonger");
    name("many-dots", 0, "a.b.c.d.tar.gz/x.y?z");
    name("attempt-99", 99, "what?.txt/what?.txt");
    name("names83-plain", 0x80, "README.TXT/A/HELLO~1.C/12345678.ABC");
    name("names83-mixed", 0x80, "readme.txt/Makefile/a.b.c/x.tar.gz/LONGNAMES.TXT/CON");
    name("names83-punct", 0x85, "!#$%&'()-@^_`{}~/A B.C/A+B.C/.X");
    name("names83-collide", 0x80, "ab/AB/Ab/aB/ab.c/AB.C");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2 && argc != 3) {
        std::fprintf(stderr, "usage: %s CORPUS_DIR [CRASHERS_DIR]\n", argv[0]);
        return 2;
    }
    g_out = argv[1];
    index_seeds();
    capacity_seeds();
    delta_seeds();
    names_seeds();
    if (argc == 3) crashers(argv[2]);
    return 0;
}
