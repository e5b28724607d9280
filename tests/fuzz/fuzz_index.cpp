// libFuzzer target: the index parser must survive any bytes, never accept
// what the mount must not see, and round-trip what it accepts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fs/index_format.hpp"
#include "fs/name_codec.hpp"

using namespace pershome::fs;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    (void)find_newest_slot(bytes);
    const auto parsed = parse_payload(bytes);
    if (!parsed) return 0;
    for (const auto& e : parsed->entries) {
        if (!is_valid_posix_name(e.name) || (e.mode & ~0777u) != 0) std::abort();
        if (static_cast<int>(e.type) < 1 || static_cast<int>(e.type) > 5) std::abort();
        if (!e.real.empty() && is_reserved_backing_name(e.real)) std::abort();
    }
    // What was accepted serialises and parses back to the same entries.
    const auto again = parse_payload(serialize_payload(*parsed));
    if (!again || again->entries.size() != parsed->entries.size()) std::abort();
    for (std::size_t i = 0; i < parsed->entries.size(); ++i) {
        const auto& a = parsed->entries[i];
        const auto& b = again->entries[i];
        if (a.name != b.name || a.real != b.real || a.target != b.target || a.mode != b.mode ||
            a.xattrs != b.xattrs || !(a.mtime == b.mtime))
            std::abort();
    }
    return 0;
}
