// FNV-1a for the path chain (names are short; it is what name_codec uses
// for generated names too), with a final mix so that similar paths spread
// over all 32 bits.
#include "fs/inode_numbers.hpp"

#include <cstddef>

namespace pershome::fs {

namespace {

constexpr std::uint64_t kFnvPrime = 0x100000001b3ull;

std::uint64_t fnv1a(std::uint64_t h, const unsigned char* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        h ^= p[i];
        h *= kFnvPrime;
    }
    return h;
}

// splitmix64's finaliser: every input bit affects every output bit.
std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

std::uint64_t fold(std::uint64_t h, unsigned attempt) {
    std::uint64_t v = mix(h + attempt * 0x9e3779b97f4a7c15ull) & 0xffffffffull;
    // 0 is no inode and 1 is the root's: take the next attempt's value.
    while (v < 2) v = mix(v + h + ++attempt) & 0xffffffffull;
    return v;
}

}  // namespace

std::uint64_t root_key() {
    return 0xcbf29ce484222325ull;  // FNV-1a's offset basis
}

std::uint64_t child_key(std::uint64_t parent_key, std::string_view name) {
    unsigned char parent[8];
    for (int i = 0; i < 8; ++i) parent[i] = static_cast<unsigned char>(parent_key >> (8 * i));
    // The length keeps ("ab", "c") and ("a", "bc") chains apart.
    const std::uint64_t len = name.size();
    unsigned char lenb[2] = {static_cast<unsigned char>(len), static_cast<unsigned char>(len >> 8)};
    std::uint64_t h = fnv1a(root_key(), parent, sizeof parent);
    h = fnv1a(h, lenb, sizeof lenb);
    return fnv1a(h, reinterpret_cast<const unsigned char*>(name.data()), name.size());
}

std::uint64_t ino_of_key(std::uint64_t key, unsigned attempt) {
    return fold(key, attempt);
}

std::uint64_t ino_of_link(std::uint64_t link_id, unsigned attempt) {
    // Its own domain: a link id is a small counter, and a path key could
    // be anything.
    return fold(mix(link_id ^ 0x6c696e6b2d696421ull), attempt);
}

}  // namespace pershome::fs
