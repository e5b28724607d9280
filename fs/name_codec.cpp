#include "fs/name_codec.hpp"

#include <array>
#include <cstdio>

namespace pershome::fs {
namespace {

char ascii_upper(char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_upper(a[i]) != ascii_upper(b[i])) return false;
    return true;
}

// Characters the vfat driver and Windows refuse in a long name.
bool fat_forbidden_char(unsigned char c) {
    if (c < 0x20) return true;
    switch (c) {
        case '\\':
        case ':':
        case '*':
        case '?':
        case '"':
        case '<':
        case '>':
        case '|':
        case '/':
            return true;
        default:
            return false;
    }
}

// Length of the valid UTF-8 sequence starting at s[i], 0 if invalid.
std::size_t utf8_seq(std::string_view s, std::size_t i, std::uint32_t* cp) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t n;
    std::uint32_t c;
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    } else if ((b0 & 0xE0) == 0xC0) {
        n = 2;
        c = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
        n = 3;
        c = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
        n = 4;
        c = b0 & 0x07;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    for (std::size_t k = 1; k < n; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) return 0;
        c = (c << 6) | (b & 0x3F);
    }
    static constexpr std::array<std::uint32_t, 5> kMin = {0, 0, 0x80, 0x800, 0x10000};
    if (c < kMin[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return n;
}

}  // namespace

bool is_valid_posix_name(std::string_view name) {
    if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
    return name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

std::optional<std::size_t> utf16_length(std::string_view s) {
    std::size_t units = 0;
    for (std::size_t i = 0; i < s.size();) {
        std::uint32_t cp = 0;
        const std::size_t n = utf8_seq(s, i, &cp);
        if (n == 0) return std::nullopt;
        units += cp >= 0x10000 ? 2 : 1;
        i += n;
    }
    return units;
}

bool is_reserved_dos_name(std::string_view name) {
    std::string_view base = name.substr(0, name.find('.'));
    // Windows also ignores trailing spaces before the extension ("CON .txt").
    while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
    for (std::string_view r : {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"})
        if (iequals(base, r)) return true;
    if (base.size() == 4 && base[3] >= '1' && base[3] <= '9' &&
        (iequals(base.substr(0, 3), "COM") || iequals(base.substr(0, 3), "LPT")))
        return true;
    return false;
}

bool is_index_file_name(std::string_view name) {
    return iequals(name, kIndexFileName);
}

bool is_reserved_backing_name(std::string_view name) {
    return iequals(name, kIndexFileName) || iequals(name, kLinkPoolName) ||
           iequals(name, kLastUseName);
}

bool fat_can_hold(std::string_view name) {
    if (!is_valid_posix_name(name)) return false;
    for (char c : name)
        if (fat_forbidden_char(static_cast<unsigned char>(c))) return false;
    // vfat silently strips trailing dots and spaces; a leading space is
    // legal to Linux but Windows Explorer cannot handle it.
    if (name.back() == '.' || name.back() == ' ' || name.front() == ' ') return false;
    const auto units = utf16_length(name);
    if (!units || *units > 255) return false;
    return !is_reserved_dos_name(name) && !is_reserved_backing_name(name);
}

namespace {

// Keep valid UTF-8 characters FAT accepts; everything else becomes '_'.
std::string sanitize(std::string_view s, std::size_t max_bytes) {
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
        std::uint32_t cp = 0;
        std::size_t n = utf8_seq(s, i, &cp);
        std::string_view piece;
        if (n == 0) {
            n = 1;
            piece = "_";
        } else if (n == 1 && fat_forbidden_char(static_cast<unsigned char>(s[i]))) {
            piece = "_";
        } else {
            piece = s.substr(i, n);
        }
        if (out.size() + piece.size() > max_bytes) break;
        out += piece;
        i += n;
    }
    while (!out.empty() && (out.back() == '.' || out.back() == ' ')) out.pop_back();
    while (!out.empty() && (out.front() == ' ')) out.erase(0, 1);
    return out;
}

std::uint32_t fnv1a(std::string_view s, std::uint32_t seed) {
    std::uint32_t h = 2166136261u ^ seed;
    for (char c : s) {
        h ^= static_cast<unsigned char>(c);
        h *= 16777619u;
    }
    return h;
}

}  // namespace

std::string generated_name(std::string_view name, std::uint32_t attempt) {
    std::string_view stem = name;
    std::string_view ext;
    const auto dot = name.rfind('.');
    if (dot != std::string_view::npos && dot > 0 && name.size() - dot - 1 <= 16) {
        stem = name.substr(0, dot);
        ext = name.substr(dot + 1);
    }
    std::string s = sanitize(stem, 64);
    if (s.empty()) s.push_back('_');
    const std::string e = sanitize(ext, 32);
    char tag[16];
    std::snprintf(tag, sizeof tag, "~%08x", fnv1a(name, attempt * 0x9E3779B9u));
    std::string out = s + tag;
    if (!e.empty()) {
        out.push_back('.');
        out.append(e);
    }
    // A dot inside the stem can leave a DOS device name in front of it
    // ("CON.t.." -> "CON.t~..."): Windows looks only before the first dot.
    if (is_reserved_dos_name(out)) out.insert(0, 1, '_');
    return out;
}

namespace {

bool short_name_char(char c) {
    if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'()-@^_`{}~").find(c) != std::string_view::npos;
}

std::string short_part(std::string_view s, std::size_t max) {
    std::string out;
    for (char c : s) {
        if (out.size() == max) break;
        c = ascii_upper(c);
        if (short_name_char(c) && c != '~') out.push_back(c);
    }
    return out;
}

}  // namespace

bool is_83_name(std::string_view name) {
    const auto dot = name.find('.');
    const std::string_view base = name.substr(0, dot);
    const std::string_view ext = dot == std::string_view::npos ? "" : name.substr(dot + 1);
    if (base.empty() || base.size() > 8 || ext.size() > 3) return false;
    if (dot != std::string_view::npos && ext.empty()) return false;
    for (char c : base)
        if (!short_name_char(c)) return false;
    for (char c : ext)
        if (!short_name_char(c)) return false;
    return !is_reserved_dos_name(name) && !is_reserved_backing_name(name);
}

std::string generated_name_83(std::string_view name, std::uint32_t attempt) {
    const auto dot = name.rfind('.');
    const std::string_view stem =
        dot == std::string_view::npos || dot == 0 ? name : name.substr(0, dot);
    const std::string_view ext =
        dot == std::string_view::npos || dot == 0 ? std::string_view{} : name.substr(dot + 1);
    std::string base = short_part(stem, 2);
    char hex[16];
    std::snprintf(hex, sizeof hex, "%08X", fnv1a(name, attempt * 0x9E3779B9u));
    base.append(hex, 8 - base.size());
    const std::string e = short_part(ext, 3);
    if (!e.empty()) {
        base.push_back('.');
        base.append(e);
    }
    return base;
}

namespace {

// vfat's character rule for a basis or extension: '.' and ' ' are skipped,
// "+=,;[]" become '_', the rest is upper-cased. False: not ASCII.
bool vfat_short_chars(std::string_view in, std::string* out) {
    for (const char ch : in) {
        const auto c = static_cast<unsigned char>(ch);
        if (c >= 0x80 || c < 0x20) return false;
        if (c == '.' || c == ' ') continue;
        if (std::string_view("+=,;[]").find(ch) != std::string_view::npos) {
            out->push_back('_');
        } else {
            out->push_back(c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : ch);
        }
    }
    return true;
}

bool is_hex_upper(char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

}  // namespace

bool could_be_vfat_alias(std::string_view alias, std::string_view long_name) {
    // The extension starts after the last dot, unless that dot leads.
    const std::size_t dot = long_name.rfind('.');
    const bool has_ext = dot != std::string_view::npos && dot != 0;
    std::string basis, ext;
    if (!vfat_short_chars(has_ext ? long_name.substr(0, dot) : long_name, &basis)) return false;
    if (has_ext && !vfat_short_chars(long_name.substr(dot + 1), &ext)) return false;
    if (basis.empty()) return false;
    if (ext.size() > 3) ext.resize(3);
    const std::string tail = ext.empty() ? "" : "." + ext;
    if (alias.size() <= tail.size() || alias.substr(alias.size() - tail.size()) != tail)
        return false;
    const std::string_view stem = alias.substr(0, alias.size() - tail.size());
    // BASIS~N
    const std::string b6 = basis.substr(0, 6);
    if (stem.size() == b6.size() + 2 && stem.substr(0, b6.size()) == b6 && stem[b6.size()] == '~' &&
        stem.back() >= '1' && stem.back() <= '9')
        return true;
    // BAXXXX~N
    const std::string b2 = basis.substr(0, 2);
    if (stem.size() == b2.size() + 6 && stem.substr(0, b2.size()) == b2 &&
        stem[b2.size() + 4] == '~' && stem.back() >= '1' && stem.back() <= '8') {
        for (std::size_t k = b2.size(); k < b2.size() + 4; ++k)
            if (!is_hex_upper(stem[k])) return false;
        return true;
    }
    return false;
}

}  // namespace pershome::fs
