// The per-directory index as it lies on the stick (docs/on-stick-format.md):
// in-memory records, payload (de)serialisation and the two-slot container.
// No I/O here, so hostile input can be unit-tested and fuzzed directly.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
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
inline constexpr std::uint32_t kMaxNlink = 65000;
inline constexpr std::uint32_t kSlotAlign = 4096;
inline constexpr std::uint32_t kSlotHeaderSize = 64;
inline constexpr std::uint64_t kMaxIndexFileSize = 256ull << 20;
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
    std::uint64_t link_id = 0;                  // non-zero: a hard-linked name, inode in the pool
    std::uint32_t nlink = 1;                    // meaningful in link-pool entries only
    std::string target;                         // symlink target
    std::map<std::string, std::string> xattrs;  // "user.*" only

    bool linked() const { return link_id != 0; }
};

struct IndexContent {
    Entry self;  // attributes of the directory itself (used for the root)
    std::vector<Entry> entries;
};

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
    std::string payload;
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

}  // namespace pershome::fs
