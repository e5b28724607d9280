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

}  // namespace pershome::fs
