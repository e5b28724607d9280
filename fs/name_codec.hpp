// Which POSIX names the FAT backing can hold as themselves, and the generated
// backing names for the others. Pure functions: no I/O, unit-tested hard.
#pragma once

#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pershome::fs {

// Names pershome-fs keeps for itself in every backing directory. Compared
// case-insensitively because FAT folds case.
inline constexpr std::string_view kIndexFileName = "PERSHOME.IDX";
inline constexpr std::string_view kLinkPoolName = "PERSHOME.LNK";
// pershomed's record of the stick's last use (who, where, when), kept in the
// backing root; reserved everywhere so that it never shows in a home.
inline constexpr std::string_view kLastUseName = "PERSHOME.USE";

// A name a POSIX user may give: 1..255 bytes, no '/', no NUL, not "." or "..".
bool is_valid_posix_name(std::string_view name);

// Number of UTF-16 code units of a strictly valid UTF-8 string (no overlong
// forms, no surrogates, nothing past U+10FFFF); nullopt if not valid UTF-8.
std::optional<std::size_t> utf16_length(std::string_view s);

// True for CON, PRN, AUX, NUL, COM1-9, LPT1-9 (any case, any extension):
// Windows cannot open these even though Linux vfat stores them.
bool is_reserved_dos_name(std::string_view name);

// True for the index and link-pool names (any case).
bool is_reserved_backing_name(std::string_view name);
// `name` is the index file's (FAT folds case: so does this).
bool is_index_file_name(std::string_view name);

// True when a FAT long-name entry holds `name` exactly, so it can be stored
// as itself and stays readable on other computers. Case-only collisions are
// not decided here: the backing reports those (O_EXCL create).
bool fat_can_hold(std::string_view name);

// A FAT-legal backing name for `name`, recognisably derived from it
// ("what?.txt" -> "what_~1a2b3c4d.txt"). Different `attempt` values give
// different names, so a caller retries on a collision.
std::string generated_name(std::string_view name, std::uint32_t attempt);

// True when the backing refused a name it was asked to hold as itself in a
// way a generated name avoids: a collision (EEXIST) or a character set the
// FAT mount cannot encode (EINVAL, EILSEQ, ENAMETOOLONG: vfat without utf8).
inline bool backing_refused_name(int err) {
    return err == EEXIST || err == EINVAL || err == EILSEQ || err == ENAMETOOLONG;
}

// True for an upper-case 8.3 name (1-8 + 0-3 characters from FAT's short-name
// set), which a FAT driver without long names stores as itself.
bool is_83_name(std::string_view name);

// Whether `alias`, the name vfat lists for an entry whose long-name slots
// were lost, can be the 8.3 alias Linux's vfat made for the long name
// `long_name` (fs/fat/namei_vfat.c: the basis cut to 6 characters and ~1
// to ~9, or cut to 2 and 4 hex digits and ~1 to ~8; then the extension cut
// to 3). Only for long names in ASCII (other characters depend on the
// mount's codepage): false for the rest.
bool could_be_vfat_alias(std::string_view alias, std::string_view long_name);

// An 8.3 backing name for `name` (names=8.3): up to two characters of the
// name, hex digits of its hash, up to three characters of its extension.
std::string generated_name_83(std::string_view name, std::uint32_t attempt);

}  // namespace pershome::fs
