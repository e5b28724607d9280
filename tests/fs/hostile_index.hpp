// Index files crafted against the reader (docs/on-stick-format.md), of any
// size: each shape makes one part of loading a directory do as much work per
// byte as the format lets a stick ask for. Shared by the hostile-load test
// and bench/fs/hostile-load.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace pershome::fs::test {

enum class HostileShape {
    Slots,       // a slot header every 4 KiB, each claiming the rest of the file, none verifying
    Deltas,      // a small base, then a delta header every 4 KiB claiming 16 MiB, none verifying
    Entries,     // one valid slot of the fewest-byte entries, none with a backing file
    Chain,       // a base of many entries and a delta record every 4 KiB, each one upsert
    Collisions,  // a base of entries, then deltas whose upserts each take another's backing name
    Aliases,     // entries whose backing names are missing, each one asking for an alias search
};

struct HostileCase {
    HostileShape shape;
    const char* name;
};
const std::vector<HostileCase>& hostile_shapes();

// An index file of about `bytes` bytes (at least 4 KiB) of that shape.
std::string hostile_index(HostileShape shape, std::size_t bytes);

// The backing names the directory of a hostile index holds beside it (so
// that reconcile has a listing to search): `n` plain file names.
std::vector<std::string> hostile_listing(std::size_t n);

}  // namespace pershome::fs::test
