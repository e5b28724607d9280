// libFuzzer target: the per-directory index (docs/on-stick-format.md) read
// from a hostile stick. Each input is a whole PERSHOME.IDX file; it goes
// through the slot scanner and the payload parser exactly as
// load_dir/write_index use them, and the input bytes are also parsed as a
// bare payload so that payload mutations need not pass a checksum.
//
// Properties checked (any violation aborts, which libFuzzer reports):
// * the slot scanner picks a slot that really verifies and has the highest
//   generation (compared with an independent reading of the spec);
// * what parse_payload accepts is sane: valid names, no setuid/setgid/sticky,
//   no device types, every length within its documented bound, no
//   duplicate names or backing names, no reserved backing name;
// * serialize(parse(x)) parses back to the same content, with no problem
//   reported, and serialises to the same bytes again;
// * the next slot, placed and written as write_index does, does not overlap
//   the newest slot, is aligned, keeps the file readable by this reader, and
//   is what the next mount reads.
// Version 2 (delta records, section 2a):
// * read_index applies exactly the chain an independent reading of the spec
//   finds (base generation, sequence 1, 2, ... lowest offset first), and
//   what it shows is as sane as a full slot's content;
// * the raw bytes parsed as a delta payload give sane operations that
//   round-trip, and applying them keeps any content sane;
// * the writer's next write after loading this file (plan_index_write, a
//   delta or a full slot) overlaps neither the newest slot nor any delta of
//   it, is read back as exactly the new content, and torn at any 512-byte
//   sector reads as the old or the new content.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fs/crc32c.hpp"
#include "fs/index_format.hpp"
#include "fs/name_codec.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace pershome::fs;

namespace {

std::uint32_t le32(const char* p) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}
std::uint64_t le64(const char* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}
void put32(std::uint8_t* p, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

constexpr std::string_view kMagic = "PSHMIDX1";
constexpr std::string_view kDeltaMagicSpec = "PSHMDLT2";

// Section 2 of the spec, read independently of index_format.cpp: is there a
// valid slot at `off`, and with which generation?
std::optional<std::uint64_t> spec_slot_generation(std::string_view file, std::size_t off) {
    if (off + kSlotHeaderSize > file.size()) return std::nullopt;
    const std::string_view h = file.substr(off, kSlotHeaderSize);
    if (h.substr(0, 8) != kMagic) return std::nullopt;
    if (le32(h.data() + 60) != crc32c(h.substr(0, 60))) return std::nullopt;
    if (le32(h.data() + 8) != 1 || le32(h.data() + 12) != 64) return std::nullopt;
    const std::uint64_t len = le32(h.data() + 28);
    if (off + kSlotHeaderSize + len > file.size()) return std::nullopt;
    if (crc32c(file.substr(off + kSlotHeaderSize, len)) != le32(h.data() + 32)) return std::nullopt;
    const std::uint64_t generation = le64(h.data() + 16);
    if (generation > (std::uint64_t{1} << 62)) return std::nullopt;
    return generation;
}

bool valid_ts(const Timestamp& t) {
    return t.nsec < 1000000000u;
}

void check_entry(const Entry& e) {
    CHECK(is_valid_posix_name(e.name));
    CHECK(e.name.find('/') == std::string::npos && e.name.find('\0') == std::string::npos);
    CHECK(e.name != "." && e.name != ".." && e.name.size() <= 255);
    const auto t = static_cast<unsigned>(e.type);
    CHECK(t >= 1 && t <= 5);        // no block/char devices, no unknown types
    CHECK((e.mode & ~0777u) == 0);  // no setuid, setgid, sticky or type bits
    CHECK(valid_ts(e.atime) && valid_ts(e.mtime) && valid_ts(e.ctime));
    CHECK(e.nlink >= 1 && e.nlink <= kMaxNlink);
    // The backing name is a name inside the backing directory, never a path,
    // except a link-pool entry's data path (AT_PATH): never out of the
    // backing root, never pershome's own files, never a directory.
    if (e.at_path) {
        CHECK(is_valid_data_path(e.real) && !e.linked() && e.type != NodeType::Dir);
        CHECK(e.real_prev.empty() || is_valid_data_path(e.real_prev));
    } else if (!e.real.empty()) {
        CHECK(e.real_prev.empty());
        CHECK(is_valid_posix_name(e.real) && e.real.size() <= kMaxRealLen);
        CHECK(!is_reserved_backing_name(e.real));
    } else {
        CHECK(e.linked());  // otherwise the entry names nothing on the stick
    }
    CHECK(e.target.size() <= kMaxTargetLen && e.target.find('\0') == std::string::npos);
    if (e.type == NodeType::Symlink && !e.linked()) CHECK(!e.target.empty());
    std::size_t total = 0;
    for (const auto& [k, v] : e.xattrs) {
        CHECK(k.size() > 5 && k.size() <= kMaxXattrName && k.compare(0, 5, "user.") == 0);
        CHECK(k.find('\0') == std::string::npos);
        CHECK(v.size() <= kMaxXattrValue);
        total += k.size() + v.size();
    }
    CHECK(total <= kMaxXattrTotal);
}

void check_sane(const IndexContent& c) {
    const Entry& s = c.self;
    CHECK(s.type == NodeType::Dir && (s.mode & ~0777u) == 0);
    CHECK(s.name.empty() && s.real.empty() && s.target.empty() && s.xattrs.empty());
    CHECK(!s.linked());
    CHECK(valid_ts(s.atime) && valid_ts(s.mtime) && valid_ts(s.ctime));
    std::set<std::string_view> names, reals;
    for (const auto& e : c.entries) {
        check_entry(e);
        CHECK(names.insert(e.name).second);                       // no name twice
        if (!e.real.empty()) CHECK(reals.insert(e.real).second);  // no aliased backing file
    }
}

bool same_entry(const Entry& a, const Entry& b) {
    return a.name == b.name && a.real == b.real && a.type == b.type && a.mode == b.mode &&
           a.atime == b.atime && a.mtime == b.mtime && a.ctime == b.ctime &&
           a.link_id == b.link_id && a.nlink == b.nlink && a.target == b.target &&
           a.xattrs == b.xattrs;
}

void check_round_trip(const IndexContent& c) {
    const std::string bytes = serialize_payload(c);
    std::vector<std::string> problems;
    const auto again = parse_payload(bytes, &problems);
    CHECK(again.has_value());
    CHECK(problems.empty());  // the sanitised form needs no more sanitising
    CHECK(same_entry(again->self, c.self));
    CHECK(again->entries.size() == c.entries.size());
    for (std::size_t i = 0; i < c.entries.size(); ++i)
        CHECK(same_entry(again->entries[i], c.entries[i]));
    CHECK(serialize_payload(*again) == bytes);
}

// What write_index does after loading this file (the next slot's place,
// then the slot written there) and what the next mount reads back.
// Where write_index puts the next slot, and what must hold of that place.
SlotPlace check_place(std::optional<SlotSpan> span, std::uint32_t capacity, std::size_t slot_bytes,
                      std::size_t file_size) {
    const SlotPlace p = place_next_slot(span, capacity, slot_bytes);
    // A torn write of the new slot must not damage the newest one.
    if (span)
        CHECK(p.offset + slot_bytes <= span->offset || p.offset >= span->offset + span->length);
    // The reader only looks at multiples of kSlotAlign: a slot elsewhere is
    // lost at the next mount. (These checks found place_next_slot trusting a
    // hostile capacity field; fixed in 6d77ad7.)
    CHECK(p.offset % kSlotAlign == 0);
    // The region layout holds: the capacity recorded is the real one.
    CHECK(p.offset == 0 || p.offset == p.capacity);
    CHECK(slot_bytes <= p.capacity && p.capacity % kSlotAlign == 0);
    // A small file never grows past what the reader accepts (it ignores
    // index files over kMaxIndexFileSize, losing all metadata).
    if (file_size <= (1u << 20) && slot_bytes <= (1u << 20))
        CHECK(p.offset + slot_bytes <= kMaxIndexFileSize);
    return p;
}

void check_write_back(std::string_view file, const SlotFound& newest, const IndexContent& c) {
    const std::string payload = serialize_payload(c);
    const std::size_t slot_bytes = kSlotHeaderSize + payload.size();
    const std::string slot = encode_slot(newest.generation + 1, kSlotAlign, payload);
    CHECK(slot.size() == slot_bytes);
    const auto alone = find_newest_slot(slot);
    CHECK(alone && alone->payload == payload && alone->generation == newest.generation + 1);
    // A directory without an index file (or a damaged one) starts at 0.
    CHECK(check_place(std::nullopt, newest.capacity, slot_bytes, 0).offset == 0);

    const SlotSpan span{newest.offset, newest.length};
    const SlotPlace p = check_place(span, newest.capacity, slot_bytes, file.size());
    // The same directory after it grew (an entry added): the slot no longer
    // fits the region and moves past the newest one.
    (void)check_place(span, newest.capacity, slot_bytes + newest.length + kSlotAlign, file.size());
    // Write the slot where it was placed (a plausible place only: this
    // simulates the file in memory) and read the file back: the new slot
    // must win.
    if (p.offset + slot_bytes > (2u << 20)) return;
    std::string after(file);
    if (after.size() < p.offset + slot_bytes) after.resize(p.offset + slot_bytes, '\0');
    after.replace(p.offset, slot_bytes, encode_slot(newest.generation + 1, p.capacity, payload));
    const auto back = find_newest_slot(after);
    CHECK(back.has_value());
    CHECK(back->offset == p.offset && back->payload == payload);
}

void check_payload(std::string_view payload) {
    std::vector<std::string> problems;
    const auto parsed = parse_payload(payload, &problems);
    if (!parsed) return;
    check_sane(*parsed);
    check_round_trip(*parsed);
}

// Section 2a read independently: the offsets of the delta chain of base
// `gen` (sequence 1, 2, ... each at the lowest offset holding a valid
// record), before payload parsing (which may end it earlier).
std::vector<std::size_t> spec_delta_chain(std::string_view file, std::uint64_t gen) {
    std::map<std::uint64_t, std::size_t> first;
    for (std::size_t off = 0; off + 64 <= file.size(); off += kSlotAlign) {
        const std::string_view h = file.substr(off, 64);
        if (h.substr(0, 8) != kDeltaMagicSpec) continue;
        if (le32(h.data() + 60) != crc32c(h.substr(0, 60))) continue;
        if (le32(h.data() + 8) != 2 || le32(h.data() + 12) != 64) continue;
        if (le64(h.data() + 16) != gen) continue;
        const std::uint64_t seq = le64(h.data() + 24);
        if (seq == 0 || seq > (std::uint64_t{1} << 32)) continue;
        const std::uint64_t len = le32(h.data() + 32);
        if (len > (16u << 20) || off + 64 + len > file.size()) continue;
        if (crc32c(file.substr(off + 64, len)) != le32(h.data() + 36)) continue;
        first.emplace(seq, off);  // offsets ascend: the first is the lowest
    }
    std::vector<std::size_t> chain;
    for (std::uint64_t seq = 1; first.count(seq); ++seq) chain.push_back(first[seq]);
    return chain;
}

std::string shown(IndexContent c) {
    c.self.type = NodeType::Dir;
    return payload_from_records(to_records(c));
}

void check_ops(const std::vector<DeltaOp>& ops) {
    for (const auto& op : ops) {
        switch (op.kind) {
            case DeltaOp::Kind::Upsert:
                check_entry(op.entry);
                break;
            case DeltaOp::Kind::Remove:
                CHECK(is_valid_posix_name(op.name));
                break;
            case DeltaOp::Kind::Self:
                CHECK(op.entry.type == NodeType::Dir && (op.entry.mode & ~0777u) == 0);
                CHECK(op.entry.name.empty() && op.entry.real.empty() && !op.entry.linked());
                break;
            default:
                CHECK(false);
        }
    }
}

void check_delta_payload(std::string_view bytes, const IndexContent* onto) {
    std::vector<std::string> problems;
    const auto ops = parse_delta_payload(bytes, &problems);
    if (!ops) return;
    check_ops(*ops);
    const std::string again = serialize_delta_payload(*ops);
    std::vector<std::string> p2;
    const auto back = parse_delta_payload(again, &p2);
    CHECK(back && p2.empty() && back->size() == ops->size());
    CHECK(serialize_delta_payload(*back) == again);
    IndexContent c;
    c.self.type = NodeType::Dir;  // as parse_payload makes every self record
    apply_delta(c, *ops);
    check_sane(c);
    if (onto) {
        IndexContent d = *onto;
        apply_delta(d, *ops);
        check_sane(d);
    }
}

bool overlaps(std::uint64_t a, std::uint64_t alen, const SlotSpan& s) {
    const std::uint64_t end = (s.offset + s.length + kSlotAlign - 1) / kSlotAlign * kSlotAlign;
    return a < end && s.offset < a + alen;
}

// The writer after loading `file` (as load_dir sets it up), with one change.
void check_next_write(std::string_view file, const IndexRead& r) {
    IndexWriteState st;
    st.layout.base = SlotSpan{r.base.offset, r.base.length};
    st.layout.capacity = r.base.capacity;
    for (const auto& d : r.deltas) st.layout.deltas.push_back({d.offset, d.length});
    st.generation = r.base.generation;
    st.on_stick = to_records(r.content);
    st.force_base = r.strays;
    st.generation_floor = r.max_delta_base;

    IndexContent next = r.content;
    std::erase_if(next.entries,
                  [](const Entry& e) { return e.name == "fuzz-new" || e.real == "fuzz-new~1"; });
    if (!next.entries.empty()) next.entries.erase(next.entries.begin());
    Entry e;
    e.name = "fuzz-new";
    e.real = "fuzz-new~1";
    e.mode = 0600;
    next.entries.push_back(e);

    RecordSet now = to_records(next);
    const IndexWrite w = plan_index_write(st, now);
    CHECK(w.kind != IndexWrite::Kind::Nothing);
    CHECK(w.offset % kSlotAlign == 0);
    CHECK(!overlaps(w.offset, w.bytes.size(), *st.layout.base));
    for (const auto& d : st.layout.deltas) CHECK(!overlaps(w.offset, w.bytes.size(), d));
    if (w.kind == IndexWrite::Kind::Delta) {
        CHECK(!r.strays);
        CHECK(w.bytes.size() % kSlotAlign == 0);
    } else {
        CHECK(w.offset == 0 || w.offset == w.capacity);
        // Room for the deltas, made with the slot; a small file stays small.
        CHECK(w.extend_to >= w.offset + w.bytes.size());
        if (file.size() <= (1u << 20)) CHECK(w.extend_to <= kMaxIndexFileSize / 4);
    }
    if (w.offset + w.bytes.size() > (4u << 20)) return;
    std::string after(file);
    if (after.size() < w.offset + w.bytes.size()) after.resize(w.offset + w.bytes.size(), '\0');
    std::string grown = after;  // the file before, extended as the write will
    after.replace(w.offset, w.bytes.size(), w.bytes);
    if (w.kind == IndexWrite::Kind::Base && after.size() < w.extend_to && w.extend_to <= (4u << 20))
        after.resize(w.extend_to, '\0');
    const auto back = read_index(after);
    CHECK(back.has_value());
    const std::string want = shown(next), old = shown(r.content);
    CHECK(shown(back->content) == want);
    for (std::size_t cut = 0; cut < w.bytes.size(); cut += 512) {
        std::string torn = grown;
        torn.replace(w.offset, cut, w.bytes.substr(0, cut));
        const auto t = read_index(torn);
        CHECK(t.has_value());
        const std::string v = shown(t->content);
        CHECK(v == old || v == want);
    }
    // And the write after that, from the state the first one left.
    commit_index_write(st, w, std::move(now));
    next.entries.back().mode = 0640;
    const IndexWrite w2 = plan_index_write(st, to_records(next));
    CHECK(w2.kind != IndexWrite::Kind::Nothing);
    // A delta right after a full slot this writer placed never grows the file.
    if (w.kind == IndexWrite::Kind::Base && w2.kind == IndexWrite::Kind::Delta &&
        after.size() >= w.extend_to)
        CHECK(w2.offset + w2.bytes.size() <= after.size());
    CHECK(!overlaps(w2.offset, w2.bytes.size(), *st.layout.base));
    for (const auto& d : st.layout.deltas) CHECK(!overlaps(w2.offset, w2.bytes.size(), d));
    if (w2.offset + w2.bytes.size() > (4u << 20)) return;
    if (after.size() < w2.offset + w2.bytes.size()) after.resize(w2.offset + w2.bytes.size(), '\0');
    after.replace(w2.offset, w2.bytes.size(), w2.bytes);
    const auto back2 = read_index(after);
    CHECK(back2 && shown(back2->content) == shown(next));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view file(reinterpret_cast<const char*>(data), size);

    // The container: the scanner's choice against the spec.
    int seen = 0;
    const auto slot = find_newest_slot(file, &seen);
    int spec_seen = 0;
    std::optional<std::uint64_t> spec_best;
    for (std::size_t off = 0; off + kSlotHeaderSize <= size; off += kSlotAlign) {
        if (file.substr(off, 8) == kMagic) ++spec_seen;
        const auto gen = spec_slot_generation(file, off);
        if (gen && (!spec_best || *gen > *spec_best)) spec_best = gen;
    }
    CHECK(seen == spec_seen);
    CHECK(slot.has_value() == spec_best.has_value());
    if (slot) {
        CHECK(slot->generation == *spec_best);
        CHECK(slot->offset % kSlotAlign == 0);
        CHECK(spec_slot_generation(file, slot->offset) == slot->generation);
        CHECK(slot->length == kSlotHeaderSize + slot->payload.size());
        CHECK(slot->offset + slot->length <= size);
        CHECK(file.substr(slot->offset + kSlotHeaderSize, slot->payload.size()) == slot->payload);
        CHECK(slot->capacity == le32(file.data() + slot->offset + 24));

        std::vector<std::string> problems;
        const auto parsed = parse_payload(slot->payload, &problems);
        if (parsed) {
            check_sane(*parsed);
            check_round_trip(*parsed);
            check_write_back(file, *slot, *parsed);
        }
    }

    // Version 2: the delta chain, its content, and the next write.
    const auto read = read_index(file);
    CHECK(read.has_value() == (slot && parse_payload(slot->payload).has_value()));
    if (read) {
        check_sane(read->content);
        const auto chain = spec_delta_chain(file, read->base.generation);
        CHECK(read->deltas.size() <= chain.size());
        for (std::size_t i = 0; i < read->deltas.size(); ++i) {
            CHECK(read->deltas[i].offset == chain[i] && read->deltas[i].seq == i + 1);
        }
        // Only a broken payload ends the chain early, and then some record
        // of the base is left unapplied.
        if (read->deltas.size() < chain.size()) CHECK(read->strays);
        check_next_write(file, *read);
        check_delta_payload(file, &read->content);
    } else {
        check_delta_payload(file, nullptr);
    }

    // The payload parser on the raw bytes, no checksum in the way.
    check_payload(file);
    return 0;
}

// libFuzzer's mutations break the CRC32C of every slot they touch, which
// would keep the payload parser behind find_newest_slot out of reach. After
// mutating, most of the time this re-seals each slot header it finds (payload
// CRC, then header CRC), sometimes first stretching a payload length that
// now runs past the end; a quarter of the time it leaves the bytes alone so
// the checksum rejections stay covered too.
extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max_size);
extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size,
                                               std::size_t max_size, unsigned int seed) {
    size = LLVMFuzzerMutate(data, size, max_size);
    std::minstd_rand rng(seed);
    if (rng() % 4 == 0) return size;
    const bool fix_lengths = rng() % 2 == 0;
    for (std::size_t off = 0; off + kSlotHeaderSize <= size; off += kSlotAlign) {
        std::uint8_t* h = data + off;
        if (std::memcmp(h, kDeltaMagicSpec.data(), 8) == 0) {
            // A delta record: length at 32, payload CRC at 36.
            std::uint32_t len = le32(reinterpret_cast<const char*>(h + 32));
            if (fix_lengths && len > size - off - 64) {
                len = static_cast<std::uint32_t>(size - off - 64);
                put32(h + 32, len);
            }
            if (len <= size - off - 64) put32(h + 36, crc32c(h + 64, len));
            put32(h + 60, crc32c(h, 60));
            continue;
        }
        if (std::memcmp(h, kMagic.data(), 8) != 0) continue;
        const std::size_t room =
            std::min<std::size_t>(size, off + kSlotAlign) - off - kSlotHeaderSize;
        std::uint32_t len = le32(reinterpret_cast<const char*>(h + 28));
        if (fix_lengths && len > size - off - kSlotHeaderSize) {
            len = static_cast<std::uint32_t>(room);
            put32(h + 28, len);
        }
        if (len <= size - off - kSlotHeaderSize) put32(h + 32, crc32c(h + kSlotHeaderSize, len));
        put32(h + 60, crc32c(h, 60));
    }
    return size;
}
