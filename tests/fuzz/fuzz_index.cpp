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
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fs/crc32c.hpp"
#include "fs/index_format.hpp"
#include "fs/name_codec.hpp"

using namespace pershome::fs;

namespace {

[[noreturn]] void fail(const char* what, int line) {
    std::fprintf(stderr, "fuzz_index.cpp:%d: property violated: %s\n", line, what);
    std::abort();
}
#define CHECK(c)                      \
    do {                              \
        if (!(c)) fail(#c, __LINE__); \
    } while (0)

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
    // The backing name is a name inside the backing directory, never a path.
    if (!e.real.empty()) {
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
