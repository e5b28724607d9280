#include "fs/crc32c.hpp"

#include <array>
#include <bit>
#include <cstring>

namespace pershome::fs {
namespace {

constexpr std::uint32_t kPoly = 0x82F63B78u;  // reflected

// Slicing-by-8 tables: t[0] is the byte-at-a-time table, t[k][i] the CRC
// of byte i followed by k zero bytes. Portable, identical on every CPU.
using Tables = std::array<std::array<std::uint32_t, 256>, 8>;
constexpr Tables make_tables() {
    Tables t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
        t[0][i] = c;
    }
    for (std::uint32_t i = 0; i < 256; ++i)
        for (int k = 1; k < 8; ++k) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
    return t;
}
constexpr Tables kT = make_tables();

// a * b modulo the polynomial (reflected: bit 31 is x^0).
std::uint32_t multmodp(std::uint32_t a, std::uint32_t b) {
    std::uint32_t m = 1u << 31, p = 0;
    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0) break;
        }
        m >>= 1;
        b = (b & 1) ? (b >> 1) ^ kPoly : b >> 1;
    }
    return p;
}

// x^(2^k) modulo the polynomial, k = 0..63.
std::array<std::uint32_t, 64> make_x2n() {
    std::array<std::uint32_t, 64> t{};
    std::uint32_t p = 1u << 30;  // x^1
    t[0] = p;
    for (int k = 1; k < 64; ++k) t[k] = p = multmodp(p, p);
    return t;
}

// x^(8 * len) modulo the polynomial: the factor that shifts a CRC past len bytes.
std::uint32_t x8nmodp(std::uint64_t len) {
    static const auto x2n = make_x2n();
    std::uint32_t p = 1u << 31;  // x^0
    for (int k = 3; len; len >>= 1, ++k)
        if (len & 1) p = multmodp(x2n[k & 63], p);
    return p;
}

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc) {
    const auto* p = static_cast<const unsigned char*>(data);
    crc = ~crc;
    for (; size >= 8; size -= 8, p += 8) {
        std::uint32_t lo = 0, hi = 0;
        std::memcpy(&lo, p, 4);
        std::memcpy(&hi, p + 4, 4);
        if constexpr (std::endian::native == std::endian::big) {
            lo = __builtin_bswap32(lo);
            hi = __builtin_bswap32(hi);
        }
        lo ^= crc;
        crc = kT[7][lo & 0xFF] ^ kT[6][(lo >> 8) & 0xFF] ^ kT[5][(lo >> 16) & 0xFF] ^
              kT[4][lo >> 24] ^ kT[3][hi & 0xFF] ^ kT[2][(hi >> 8) & 0xFF] ^
              kT[1][(hi >> 16) & 0xFF] ^ kT[0][hi >> 24];
    }
    for (; size > 0; --size, ++p) crc = kT[0][(crc ^ *p) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

std::uint32_t crc32c_of_range(std::uint32_t crc_before, std::uint32_t crc_through,
                              std::uint64_t len) {
    // crc32c(a + b) == crc32c(a) * x^(8 |b|) ^ crc32c(b) (the conditioning
    // of both cancels out), so crc32c(b) is one shift and an XOR away.
    return crc_through ^ multmodp(x8nmodp(len), crc_before);
}

}  // namespace pershome::fs
