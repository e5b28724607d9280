// The st_ino pershome-fs shows. FUSE lets the number a program sees differ
// from the node id the kernel and we talk by; node ids are handed out in
// lookup order, so st_ino is derived from what a file is on the stick
// instead, and a file keeps its number across unmount and mount (git's
// index, backup tools and editors compare it):
//   - a plain entry: its path, as a chain of keys (root, then each name);
//   - a hard-linked inode: its link id, whichever of its names is used.
// Numbers stay below 2^32 so that 32-bit programs built without large
// file support can stat every file (the kernel answers EOVERFLOW for a
// wider one). Two live nodes never share a number: the filesystem asks
// for the next attempt while a number is taken.
#pragma once

#include <cstdint>
#include <string_view>

namespace pershome::fs {

std::uint64_t root_key();
std::uint64_t child_key(std::uint64_t parent_key, std::string_view name);

// Never 0 and never 1 (FUSE_ROOT_ID, the root's own st_ino).
std::uint64_t ino_of_key(std::uint64_t key, unsigned attempt);
std::uint64_t ino_of_link(std::uint64_t link_id, unsigned attempt);

}  // namespace pershome::fs
