// libFuzzer target: the name codec (fs/name_codec.hpp). Input: one control
// byte (bit 7: names=8.3 mode, bits 0-6: first attempt number), then one or
// more candidate POSIX names separated by '/' (which no name may contain).
//
// The codec is one-way: a name FAT cannot hold gets a hash-tagged generated
// backing name, and the way back is the index entry recording the pair. So
// the "encode/decode round trip" checked here is the fs's own path: assign
// backing names as Fs::create does (stored as itself if the codec allows
// and it does not collide, else generated, retrying on collision), write
// the index payload, parse it back, and expect every POSIX name with its
// backing name. Also:
// * every predicate survives arbitrary bytes (the "decode" side: names come
//   from the stick, '/', NUL, over-long and invalid UTF-8 included);
// * a name the codec keeps as itself, and every generated name, is legal
//   on FAT by the rules of docs/on-stick-format.md, checked here by an
//   independent implementation of those rules;
// * generated names are deterministic and differ between attempts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fs/index_format.hpp"
#include "fs/name_codec.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace pershome::fs;

namespace {

char upper(char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
}
std::string fold(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = upper(c);
    return out;
}

// Strict UTF-8 decoding, written independently of name_codec.cpp: UTF-16
// code units, or -1 when not valid UTF-8.
long utf16_units(std::string_view s) {
    long units = 0;
    for (std::size_t i = 0; i < s.size();) {
        const auto b = static_cast<unsigned char>(s[i]);
        std::size_t n = b < 0x80                 ? 1
                        : b >= 0xC2 && b <= 0xDF ? 2
                        : b >= 0xE0 && b <= 0xEF ? 3
                        : b >= 0xF0 && b <= 0xF4 ? 4
                                                 : 0;
        if (n == 0 || i + n > s.size()) return -1;
        std::uint32_t cp = n == 1 ? b : b & (0x7F >> n);
        for (std::size_t k = 1; k < n; ++k) {
            const auto c = static_cast<unsigned char>(s[i + k]);
            if ((c & 0xC0) != 0x80) return -1;
            cp = (cp << 6) | (c & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return -1;
        units += cp >= 0x10000 ? 2 : 1;
        i += n;
    }
    return units;
}

// docs/on-stick-format.md, section 5, "Backing names": a name FAT holds as
// a long name.
bool spec_fat_legal(std::string_view n) {
    if (n.empty() || n.size() > 255 || n == "." || n == "..") return false;
    for (char ch : n) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || std::string_view("\\/:*?\"<>|").find(ch) != std::string_view::npos)
            return false;
    }
    if (n.back() == '.' || n.back() == ' ' || n.front() == ' ') return false;
    const long units = utf16_units(n);
    if (units < 0 || units > 255) return false;
    std::string_view base = n.substr(0, n.find('.'));
    while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
    const std::string b = fold(base);
    if (b == "CON" || b == "PRN" || b == "AUX" || b == "NUL" || b == "CONIN$" || b == "CONOUT$")
        return false;
    if (b.size() == 4 && (b.starts_with("COM") || b.starts_with("LPT")) && b[3] >= '1' &&
        b[3] <= '9')
        return false;
    const std::string f = fold(n);
    return f != "PERSHOME.IDX" && f != "PERSHOME.LNK";
}

// Section 5, names=8.3: an upper-case 8.3 name from FAT's short-name set.
bool spec_83(std::string_view n) {
    const auto dot = n.find('.');
    const std::string_view base = n.substr(0, dot);
    const std::string_view ext = dot == std::string_view::npos ? "" : n.substr(dot + 1);
    if (base.empty() || base.size() > 8 || ext.size() > 3) return false;
    if (dot != std::string_view::npos && ext.empty()) return false;
    for (std::string_view part : {base, ext})
        for (char c : part)
            if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  std::string_view("!#$%&'()-@^_`{}~").find(c) != std::string_view::npos))
                return false;
    return spec_fat_legal(n);
}

// Every predicate on bytes straight from a stick: no crash, and consistent.
void check_predicates(std::string_view n) {
    const bool valid = is_valid_posix_name(n);
    CHECK(valid ==
          (!n.empty() && n.size() <= 255 && n != "." && n != ".." &&
           n.find('/') == std::string_view::npos && n.find('\0') == std::string_view::npos));
    const auto u16 = utf16_length(n);
    const long units = utf16_units(n);
    CHECK(u16.has_value() == (units >= 0));
    if (u16) CHECK(static_cast<long>(*u16) == units);
    (void)is_reserved_dos_name(n);
    CHECK(is_reserved_backing_name(n) == (fold(n) == "PERSHOME.IDX" || fold(n) == "PERSHOME.LNK"));
    const bool holds = fat_can_hold(n);
    CHECK(holds == spec_fat_legal(n));
    if (holds) CHECK(valid);
    const bool is83 = is_83_name(n);
    CHECK(is83 == spec_83(n));
    if (is83) CHECK(holds);
}

struct Codec {
    bool names_83;
    bool stored_as_itself(std::string_view n) const {
        return names_83 ? is_83_name(n) : fat_can_hold(n);
    }
    std::string generated(std::string_view n, std::uint32_t attempt) const {
        return names_83 ? generated_name_83(n, attempt) : generated_name(n, attempt);
    }
};

void check_generated(const Codec& codec, std::string_view n, std::uint32_t attempt) {
    const std::string g = codec.generated(n, attempt);
    CHECK(g == codec.generated(n, attempt));  // deterministic: retries are reproducible
    CHECK(fat_can_hold(g) && spec_fat_legal(g));
    CHECK(g.size() <= 255);
    if (codec.names_83) {
        CHECK(is_83_name(g) && spec_83(g));
    } else {
        // FNV-1a from distinct seeds never collides with itself, so a retry
        // always gets a new name.
        CHECK(g != codec.generated(n, attempt + 1));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const Codec codec{(data[0] & 0x80) != 0};
    const std::uint32_t first_attempt = data[0] & 0x7F;
    const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
    check_predicates(rest);

    // Backing names for each distinct valid name, as the fs assigns them. FAT
    // folds case, so collisions are decided case-insensitively (ASCII).
    IndexContent c;
    std::set<std::string> taken_names, taken_reals;
    std::size_t start = 0;
    while (start <= rest.size()) {
        std::size_t end = rest.find('/', start);
        if (end == std::string_view::npos) end = rest.size();
        const std::string_view name = rest.substr(start, end - start);
        start = end + 1;
        check_predicates(name);
        if (!is_valid_posix_name(name)) continue;
        check_generated(codec, name, first_attempt);
        if (!taken_names.insert(std::string(name)).second) continue;
        std::string real;
        if (codec.stored_as_itself(name) && !taken_reals.contains(fold(name))) real = name;
        for (std::uint32_t a = first_attempt; real.empty() && a < first_attempt + 1000; ++a) {
            const std::string g = codec.generated(name, a);
            if (!taken_reals.contains(fold(g))) real = g;
        }
        CHECK(!real.empty());
        taken_reals.insert(fold(real));
        Entry e;
        e.name = name;
        e.real = real;
        c.entries.push_back(std::move(e));
    }

    // The way back: the index payload holds every pair, unchanged.
    std::vector<std::string> problems;
    const auto parsed = parse_payload(serialize_payload(c), &problems);
    CHECK(parsed.has_value());
    CHECK(problems.empty());
    CHECK(parsed->entries.size() == c.entries.size());
    for (std::size_t i = 0; i < c.entries.size(); ++i) {
        CHECK(parsed->entries[i].name == c.entries[i].name);
        CHECK(parsed->entries[i].real == c.entries[i].real);
    }
    return 0;
}
