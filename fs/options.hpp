// Command line of pershome-fs: what to mount where, and how.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace pershome::fs {

struct Options {
    std::string backing;
    std::string mountpoint;
    uid_t uid = 0;
    gid_t gid = 0;
    mode_t umask = 022;
    unsigned flush_seconds = 5;
    bool names_83 = false;
    bool passthrough = true;  // passthrough=auto (passthrough.hpp)
    bool read_only = false;
    bool foreground = false;
    bool debug = false;
    bool single_thread = false;
    unsigned max_threads = 16;  // request threads of the multi-threaded loop
    unsigned max_read = 0;      // largest read request (0: the kernel's choice)
    bool help = false;
    bool version = false;
    bool check = false;
    bool repair = false;
    std::vector<std::string> fuse_options;  // passed on to libfuse
};

// Parses argv (also the `mount -t fuse.pershome-fs` shape, options after the
// operands). Returns an error message, empty on success.
std::string parse_options(int argc, char** argv, Options* out);

extern const char* const kUsage;

}  // namespace pershome::fs
