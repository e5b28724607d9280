// CRC32C (Castagnoli): the checksum of index slots on the stick.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pershome::fs {

// Continues a running CRC: crc32c(b, crc32c(a)) == crc32c(a + b).
std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc = 0);
inline std::uint32_t crc32c(std::string_view s, std::uint32_t crc = 0) {
    return crc32c(s.data(), s.size(), crc);
}

// The CRC of the `len` bytes between two prefixes of one buffer, from the
// CRCs of those prefixes alone: crc32c(b) given crc32c(a) and crc32c(a + b),
// len = b.size(). O(log len), so any number of ranges of one buffer are
// checked in one pass over it (zlib's crc32_combine, solved for b).
std::uint32_t crc32c_of_range(std::uint32_t crc_before, std::uint32_t crc_through,
                              std::uint64_t len);

}  // namespace pershome::fs
