#include "tests/fs/hostile_index.hpp"

#include <cstdint>
#include <cstring>

#include "fs/crc32c.hpp"
#include "fs/index_format.hpp"

namespace pershome::fs::test {
namespace {

void put32(std::string& s, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}
void put64(std::string& s, std::size_t at, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}

// A header (slot or delta) at `at` whose own CRC verifies; the payload CRC
// field is left wrong, so that every header costs the reader its payload.
void header(std::string& f, std::size_t at, bool delta, std::uint64_t gen, std::uint64_t seq,
            std::uint32_t len) {
    std::memcpy(&f[at], delta ? "PSHMDLT2" : "PSHMIDX1", 8);
    put32(f, at + 8, delta ? 2 : 1);
    put32(f, at + 12, 64);
    put64(f, at + 16, gen);
    if (delta) {
        put64(f, at + 24, seq);
        put32(f, at + 32, len);
        put32(f, at + 36, 0xBADC0DE);
    } else {
        put32(f, at + 24, kSlotAlign);
        put32(f, at + 28, len);
        put32(f, at + 32, 0xBADC0DE);
    }
    put32(f, at + 60, crc32c(f.data() + at, 60));
}

Entry small_entry(std::size_t i, const std::string& real) {
    Entry e;
    e.name = "e" + std::to_string(i);
    e.real = real.empty() ? e.name : real;
    e.mode = 0644;
    return e;
}

// A valid full slot at 0 holding `n` entries named e0, e1, ... (backing
// name: `real_of(i)`), generation 1.
template <typename RealOf>
std::string base_of(std::size_t n, RealOf real_of) {
    IndexContent c;
    c.self.type = NodeType::Dir;
    for (std::size_t i = 0; i < n; ++i) c.entries.push_back(small_entry(i, real_of(i)));
    return encode_slot(1, kSlotAlign, serialize_payload(c));
}

std::size_t round_up(std::size_t v) {
    return (v + kSlotAlign - 1) / kSlotAlign * kSlotAlign;
}

// Grows `f` to `bytes` with a slot header every 4 KiB, each claiming the
// rest of the file and none verifying (a newer generation than any valid
// slot, so that each one is a candidate).
void pad_with_failing_slots(std::string& f, std::size_t bytes) {
    const std::size_t first = round_up(f.size());
    f.resize(std::max(first, bytes), '\0');
    for (std::size_t at = first; at + kSlotHeaderSize <= f.size(); at += kSlotAlign)
        header(f, at, false, 2 + at / kSlotAlign, 0,
               static_cast<std::uint32_t>(f.size() - at - kSlotHeaderSize));
}

// Delta records of base generation 1, sequence 1, 2, ..., one per 4 KiB
// from `from` to `bytes`, record i upserting `entry_of(i)`.
template <typename EntryOf>
void append_chain(std::string& f, std::size_t bytes, EntryOf entry_of) {
    for (std::size_t seq = 1; f.size() + kSlotAlign <= bytes; ++seq) {
        DeltaOp op;
        op.entry = entry_of(seq);
        f += encode_delta(1, seq, serialize_delta_payload({op}));
    }
}

}  // namespace

const std::vector<HostileCase>& hostile_shapes() {
    static const std::vector<HostileCase> all = {
        {HostileShape::Slots, "slots"},           {HostileShape::Deltas, "deltas"},
        {HostileShape::Entries, "entries"},       {HostileShape::Chain, "chain"},
        {HostileShape::Collisions, "collisions"}, {HostileShape::Aliases, "aliases"},
    };
    return all;
}

std::string hostile_index(HostileShape shape, std::size_t bytes) {
    bytes = round_up(std::max<std::size_t>(bytes, kSlotAlign));
    // The fewest bytes an entry takes: 68 fixed, a name of up to 7 digits;
    // as many as the reader takes on. What the entries leave of `bytes` is
    // filled with slot headers that fail (Slots), costing their CRC too.
    const std::size_t fit = std::min<std::size_t>(bytes / 76, kMaxIndexEntries);
    std::string f;
    switch (shape) {
        case HostileShape::Slots:
            pad_with_failing_slots(f, bytes);
            return f;
        case HostileShape::Deltas:
            f = base_of(1, [](std::size_t) { return std::string(); });
            f.resize(round_up(f.size()), '\0');
            {
                const std::size_t first = f.size();
                f.resize(bytes, '\0');
                for (std::size_t at = first; at < bytes; at += kSlotAlign)
                    header(f, at, true, 1, 1 + (at - first) / kSlotAlign,
                           static_cast<std::uint32_t>(std::min<std::size_t>(
                               kMaxDeltaPayload, bytes - at - kDeltaHeaderSize)));
            }
            return f;
        case HostileShape::Entries:
            f = base_of(fit, [](std::size_t) { return std::string(); });
            pad_with_failing_slots(f, bytes);
            return f;
        case HostileShape::Aliases:
            // Backing names in upper case with a tilde: each one missing
            // makes reconcile look for vfat's alias of it.
            f = base_of(fit, [](std::size_t i) { return "x~" + std::to_string(i) + ".dat"; });
            pad_with_failing_slots(f, bytes);
            return f;
        case HostileShape::Chain:
            f = base_of(fit / 2, [](std::size_t) { return std::string(); });
            f.resize(round_up(f.size()), '\0');
            append_chain(f, bytes, [](std::size_t seq) { return small_entry(seq, ""); });
            return f;
        case HostileShape::Collisions:
            f = base_of(fit / 2, [](std::size_t) { return std::string(); });
            f.resize(round_up(f.size()), '\0');
            // Each upsert claims the backing name of an entry of the base.
            append_chain(f, bytes, [fit](std::size_t seq) {
                return small_entry(fit + seq, "e" + std::to_string(seq % (fit / 2 + 1)));
            });
            return f;
    }
    return f;
}

std::vector<std::string> hostile_listing(std::size_t n) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < n; ++i) out.push_back("file" + std::to_string(i) + ".txt");
    return out;
}

}  // namespace pershome::fs::test
