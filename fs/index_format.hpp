// The per-directory index as it lies on the stick (docs/on-stick-format.md):
// in-memory records, payload (de)serialisation and the two-slot container.
// No I/O here, so hostile input can be unit-tested and fuzzed directly.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pershome::fs {

enum class NodeType : std::uint8_t { File = 1, Dir = 2, Symlink = 3, Fifo = 4, Socket = 5 };

struct Timestamp {
    std::int64_t sec = 0;
    std::uint32_t nsec = 0;
    bool operator==(const Timestamp&) const = default;
};

inline constexpr std::uint32_t kMaxTargetLen = 4095;
inline constexpr std::uint32_t kMaxXattrName = 255;
inline constexpr std::uint32_t kMaxXattrValue = 65536;
inline constexpr std::uint32_t kMaxXattrTotal = 256 * 1024;
inline constexpr std::uint32_t kMaxRealLen = 1024;
// Whether `p` may name a link group's data (Entry::at_path): backing names
// joined by '/', none of them reserved, "." or ".." (never out of the
// backing root, never an index or the pool itself).
bool is_valid_data_path(std::string_view p);
inline constexpr std::uint32_t kMaxNlink = 65000;
inline constexpr std::uint32_t kSlotAlign = 4096;
inline constexpr std::uint32_t kSlotHeaderSize = 64;
// What a reader takes on (docs/on-stick-format.md, section 2): past either
// cap an index is refused, so that a crafted one costs a bounded load (a
// FAT directory holds at most 65,536 entries, hard-link names aside).
inline constexpr std::uint64_t kMaxIndexFileSize = 32ull << 20;
inline constexpr std::uint32_t kMaxIndexEntries = 100000;
// Findings kept per load: a crafted index can earn one per entry.
inline constexpr std::size_t kMaxProblems = 1000;
// A slot claiming a higher generation is not valid: no stick reaches it (a
// write a second for 10^11 years), and honouring one would let a crafted
// 2^64-1 make every later write's generation wrap and lose to it.
inline constexpr std::uint64_t kMaxGeneration = 1ull << 62;

struct Entry {
    std::string name;  // POSIX name (any bytes but '/' and NUL)
    std::string real;  // backing name in the same directory; empty: none
    NodeType type = NodeType::File;
    std::uint32_t mode = 0644;  // permission bits only
    Timestamp atime, mtime, ctime;
    std::uint64_t link_id = 0;  // non-zero: a hard-linked name, inode in the pool
    // Link-pool entries only (flag AT_PATH): the data is not in the pool but
    // at `real`, a path of backing names from the backing root (the
    // "primary" name, where other computers see the file); `real_prev`,
    // while a move of it is under way, where it was (a reader takes it
    // first while it exists).
    bool at_path = false;
    std::string real_prev;
    std::uint32_t nlink = 1;                    // meaningful in link-pool entries only
    std::string target;                         // symlink target
    std::map<std::string, std::string> xattrs;  // "user.*" only
    // Not on the stick: what a lazy load (ReconcileOptions::lazy_times) left
    // to look up in the backing's attributes, at the entry's first use.
    enum class Unsettled : std::uint8_t {
        No,
        Times,  // a backing object the index does not know: all its times
        Edit,   // an indexed file: was it written elsewhere (its mtime)?
    };
    Unsettled unsettled = Unsettled::No;

    bool linked() const { return link_id != 0; }
};

struct IndexContent {
    Entry self;  // attributes of the directory itself (used for the root)
    std::vector<Entry> entries;
};

// Whether `problems` (may be null) takes another finding: true below
// kMaxProblems; at it, one line says the rest were left out.
bool problem_room(std::vector<std::string>* problems);

// Payload bytes for `c` (format version 1).
std::string serialize_payload(const IndexContent& c);

// Parses a payload; every length and count is bounds-checked. Bad entries are
// dropped or sanitised and described in `problems`; nullopt only when the
// payload's structure is broken.
std::optional<IndexContent> parse_payload(std::string_view payload,
                                          std::vector<std::string>* problems = nullptr);

// One slot: 64-byte header + payload.
std::string encode_slot(std::uint64_t generation, std::uint32_t capacity, std::string_view payload);

struct SlotFound {
    std::uint64_t offset = 0;
    std::uint64_t generation = 0;
    std::uint32_t capacity = 0;
    std::uint64_t length = 0;  // header + payload
    std::string_view payload;  // within the file it was found in
};

// Scans every kSlotAlign-aligned offset of a whole index file for slots whose
// header and payload checksums verify; returns the newest. `slots_seen`
// counts headers with the magic (valid or not).
std::optional<SlotFound> find_newest_slot(std::string_view file, int* slots_seen = nullptr);

// Where the next slot goes so that it never overlaps the newest valid one
// (which must survive a torn write): offset and the new slot capacity.
struct SlotPlace {
    std::uint64_t offset;
    std::uint32_t capacity;
};
struct SlotSpan {
    std::uint64_t offset;
    std::uint64_t length;
};
SlotPlace place_next_slot(std::optional<SlotSpan> newest, std::uint32_t capacity,
                          std::size_t slot_bytes);

// ---- Version 2: delta records (docs/on-stick-format.md, section 2a) ----

inline constexpr std::uint32_t kDeltaHeaderSize = 64;
inline constexpr std::uint32_t kMaxDeltaPayload = 16u << 20;
inline constexpr std::uint64_t kMaxDeltaSeq = 1ull << 32;
// Writer's budget (readers accept any chain): deltas of one base stay below
// max(kDeltaMinBudget, base slot / 2) padded bytes and kMaxDeltasPerBase
// records; past that a full slot is cheaper to read and no dearer to write.
inline constexpr std::uint64_t kDeltaMinBudget = 64 * 1024;
inline constexpr std::size_t kMaxDeltasPerBase = 1024;

// One entry's record (section 4) and the directory's own (section 3).
std::string serialize_entry(const Entry& e);
std::string serialize_self(const Entry& self);

// A directory's content as serialized records keyed by name: what a writer
// remembers of what the stick holds, so that the next write can send only
// the records that changed (a byte comparison, no field-by-field logic that
// could forget a field).
struct RecordSet {
    std::string self;
    std::map<std::string, std::string> entries;  // name -> entry record
};
RecordSet to_records(const IndexContent& c);
// The full payload (section 3) of `r`: the same bytes as serialize_payload.
std::string payload_from_records(const RecordSet& r);

// The delta payload taking `from` to `to` (removes, then upserts, then the
// directory's record), or nullopt when it would exceed `limit` bytes (the
// caller then writes a full slot). Empty string: no change at all.
// O(entries) CPU, in step with a merge of the two sorted maps.
std::optional<std::string> diff_payload(const RecordSet& from, const RecordSet& to,
                                        std::size_t limit);

struct DeltaOp {
    enum class Kind : std::uint8_t { Upsert = 1, Remove = 2, Self = 3 };
    Kind kind = Kind::Upsert;
    Entry entry;       // Upsert: the entry; Self: the directory's record
    std::string name;  // Remove
};
std::string serialize_delta_payload(const std::vector<DeltaOp>& ops);
// Bounds-checked like parse_payload, entries sanitised like its entries (an
// upsert of an entry section 4 drops, or a remove of an invalid name, is
// left out); nullopt when the structure is broken (the record is then not
// applied, and the chain ends before it).
std::optional<std::vector<DeltaOp>> parse_delta_payload(
    std::string_view payload, std::vector<std::string>* problems = nullptr);
// Applies one record's operations to `c` (section 2a), keeping names and
// backing names unique. Entries come out sorted by name.
void apply_delta(IndexContent& c, const std::vector<DeltaOp>& ops,
                 std::vector<std::string>* problems = nullptr);

// A chain of records applied one after another, as apply_delta would, in
// time linear in the operations (not in the entries per record): the
// content stays keyed by name, with the owner of each backing name.
// Invariant between records: names and backing names are unique, and
// owner_ maps each entry's backing name to it.
class DeltaApplier {
  public:
    DeltaApplier(IndexContent c, std::vector<std::string>* problems);
    // false, changing nothing: the record would take the content past
    // kMaxIndexEntries (its entries before plus its upserts).
    bool apply(const std::vector<DeltaOp>& ops);
    IndexContent take();  // entries sorted by name

  private:
    void release(const Entry& e);  // its backing name is free again
    Entry self_;
    std::map<std::string, Entry> entries_;
    std::unordered_map<std::string, std::string> owner_;  // backing name -> name
    std::vector<std::string>* problems_;
};

// A delta record: header, payload, zero padding to a multiple of kSlotAlign.
std::string encode_delta(std::uint64_t base_generation, std::uint64_t seq,
                         std::string_view payload);

struct DeltaFound {
    std::uint64_t offset = 0;
    std::uint64_t seq = 0;
    std::uint64_t length = 0;  // header + payload (padding not counted)
};

// A whole index file read as section 2a says: the newest valid slot, its
// payload, and its chain of deltas applied.
struct IndexRead {
    SlotFound base;
    IndexContent content;
    std::vector<DeltaFound> deltas;  // applied, in sequence order (1, 2, ...)
    // Valid records of this base that were not applied (a gap in the
    // sequence, twins, a record with a broken payload): the next write must
    // be a full slot, which makes them stale, rather than a delta that
    // might land beside them.
    bool strays = false;
    // The highest base generation of any delta record whose header verifies
    // (below kMaxGeneration). A slot lost to damage may have left deltas of
    // its generation behind: the next full slot must not reuse it, or they
    // would apply to it.
    std::uint64_t max_delta_base = 0;
};
// nullopt: no slot verifies, or the newest one's payload is broken (the
// index is damaged, section 2) or holds more than kMaxIndexEntries entries
// (`over_cap` set). `slots_seen` as for find_newest_slot.
std::optional<IndexRead> read_index(std::string_view file,
                                    std::vector<std::string>* problems = nullptr,
                                    int* slots_seen = nullptr, bool* over_cap = nullptr);

// Where things lie in an index file, as far as a writer knows them: the
// newest slot, its capacity field, and the deltas of that slot.
struct IndexLayout {
    std::optional<SlotSpan> base;
    std::uint32_t capacity = 0;
    std::vector<SlotSpan> deltas;  // header + payload of each
};
// The next full slot: as place_next_slot, and never overlapping a delta of
// the current base either (a torn slot write must leave base + deltas).
SlotPlace place_next_base(const IndexLayout& l, std::size_t slot_bytes);
// The offset of the next delta record of `record_bytes` (padded size), past
// the newest slot, both slot regions and every delta, or nullopt when the
// budget is spent (write a full slot instead).
std::optional<std::uint64_t> place_next_delta(const IndexLayout& l, std::size_t record_bytes);

// What a writer knows of its index file, and the choice of the next write
// (pure, so the torn-write and fuzz tests drive the writer's own logic).
struct IndexWriteState {
    IndexLayout layout;
    std::uint64_t generation = 0;  // of layout.base
    // What a reader reconstructs from the file now; nullopt: unknown (no
    // file, a damaged one, a failed write), so the next write is a full slot.
    std::optional<RecordSet> on_stick;
    bool force_base = false;             // stray deltas found at load
    std::uint64_t generation_floor = 0;  // next full slot above this (IndexRead::max_delta_base)
};
struct IndexWrite {
    enum class Kind { Nothing, Delta, Base } kind = Kind::Nothing;
    std::uint64_t offset = 0;
    std::uint32_t capacity = 0;    // Base: the new slot's capacity
    std::uint64_t generation = 0;  // Base: the new slot's generation
    std::string bytes;             // what to write at `offset` (a slot, or a padded delta)
    // Base: the file should be at least this long (zeros written past its
    // end, with the slot), covering every delta this slot's budget allows.
    // On FAT a write past the end allocates clusters and changes the size in
    // the directory entry; vfat may write those apart, and a pull between
    // them leaves a size beyond the cluster chain (fsck.vfat truncates). So
    // the file grows only with full slots, as in version 1, never per delta.
    std::uint64_t extend_to = 0;
};
// Nothing when `now` is what the stick shows; a delta when one fits the
// budget; else the next full slot.
IndexWrite plan_index_write(const IndexWriteState& s, const RecordSet& now);
// After `w` is on the stick (written and fsynced): the state that follows.
void commit_index_write(IndexWriteState& s, const IndexWrite& w, RecordSet now);

}  // namespace pershome::fs
