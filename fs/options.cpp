#include "fs/options.hpp"

#include <unistd.h>

#include <charconv>
#include <optional>
#include <string_view>

namespace pershome::fs {

const char* const kUsage =
    "usage: pershome-fs [-f] [-d] [-s] [-o OPTIONS] BACKING_DIR MOUNTPOINT\n"
    "       pershome-fs --check [--repair] BACKING_DIR\n"
    "       pershome-fs --help | --version\n"
    "\n"
    "Mounts a POSIX view (any names, modes, ns times, symlinks, hard links,\n"
    "fifos, sockets, xattrs) of BACKING_DIR, a directory on a FAT stick.\n"
    "\n"
    "options:\n"
    "  -f                  stay in the foreground\n"
    "  -d                  FUSE debug output (implies -f)\n"
    "  -s                  single-threaded\n"
    "  -o uid=N,gid=N      owner shown for every file (default: the caller)\n"
    "  -o umask=OOO        mode mask for files found without metadata (022)\n"
    "  -o flush=SECONDS    metadata write-back interval (5)\n"
    "  -o names=auto|8.3   backing names: long where FAT can hold them, or 8.3 only\n"
    "  -o passthrough=auto|off  reads of read-only opens bypass the daemon where the\n"
    "                      kernel can (Linux 6.9+, root) and the backing is not FAT\n"
    "  -o ro               read-only\n"
    "  -o max_read=BYTES   largest read request (512 KiB)\n"
    "  -o max_threads=N    threads serving requests, 1..256 (16)\n"
    "  -o allow_other,default_permissions and other FUSE mount options\n"
    "Always mounted nosuid,nodev with default_permissions.\n"
    "  --check [--repair]  verify (and repair) the metadata of BACKING_DIR\n";

namespace {

// An option with two values: `*out` is whether `v` is `yes` (false for `no`).
bool parse_choice(std::string_view v, std::string_view yes, std::string_view no, bool* out) {
    if (v != yes && v != no) return false;
    *out = v == yes;
    return true;
}

template <typename T>
bool parse_number(std::string_view s, T* out, int base = 10) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, base);
    return ec == std::errc{} && p == s.data() + s.size();
}

// Options of mount(8) and fstab that mean nothing to a FUSE filesystem.
bool ignored_mount_option(std::string_view o) {
    for (std::string_view i :
         {"rw",          "defaults", "auto",   "noauto",    "user",    "users",
          "nouser",      "_netdev",  "nofail", "dev",       "suid",    "nodev",
          "nosuid",      "exec",     "noexec", "atime",     "noatime", "relatime",
          "strictatime", "async",    "sync",   "nodiratime"})
        if (o == i) return true;
    return o.rfind("x-", 0) == 0 || o.rfind("comment=", 0) == 0;
}

bool passed_fuse_option(std::string_view o) {
    for (std::string_view i : {"allow_other", "default_permissions", "auto_unmount", "allow_root"})
        if (o == i) return true;
    for (std::string_view p : {"fsname=", "subtype="})
        if (o.rfind(p, 0) == 0) return true;
    return false;
}

std::string apply_option(std::string_view o, Options* out) {
    auto value = [&](std::string_view key) -> std::optional<std::string_view> {
        if (o.rfind(key, 0) == 0 && o.size() > key.size() && o[key.size()] == '=')
            return o.substr(key.size() + 1);
        return std::nullopt;
    };
    if (o.empty()) return {};
    if (auto v = value("uid")) {
        if (!parse_number(*v, &out->uid)) return "bad uid= value";
    } else if (auto v = value("gid")) {
        if (!parse_number(*v, &out->gid)) return "bad gid= value";
    } else if (auto v = value("umask")) {
        if (!parse_number(*v, &out->umask, 8) || out->umask > 0777) return "bad umask= value";
    } else if (auto v = value("flush")) {
        if (!parse_number(*v, &out->flush_seconds) || out->flush_seconds == 0 ||
            out->flush_seconds > 3600)
            return "bad flush= value (1..3600 seconds)";
    } else if (auto v = value("names")) {
        if (!parse_choice(*v, "8.3", "auto", &out->names_83))
            return "bad names= value (auto or 8.3)";
    } else if (auto v = value("passthrough")) {
        if (!parse_choice(*v, "auto", "off", &out->passthrough))
            return "bad passthrough= value (auto or off)";
    } else if (auto v = value("max_read")) {
        // Passed on, and set again in init: libfuse refuses the mount when
        // the two differ.
        if (!parse_number(*v, &out->max_read) || out->max_read < 4096)
            return "bad max_read= value (at least 4096 bytes)";
        out->fuse_options.emplace_back(o);
    } else if (auto v = value("max_threads")) {
        if (!parse_number(*v, &out->max_threads) || out->max_threads == 0 || out->max_threads > 256)
            return "bad max_threads= value (1..256)";
    } else if (o == "ro") {
        out->read_only = true;
    } else if (ignored_mount_option(o)) {
    } else if (passed_fuse_option(o)) {
        out->fuse_options.emplace_back(o);
    } else {
        return "unknown option: " + std::string(o);
    }
    return {};
}

}  // namespace

std::string parse_options(int argc, char** argv, Options* out) {
    out->uid = getuid();
    out->gid = getgid();
    std::vector<std::string> operands;
    auto apply_list = [&](std::string_view list) -> std::string {
        while (true) {
            const auto comma = list.find(',');
            auto err = apply_option(list.substr(0, comma), out);
            if (!err.empty()) return err;
            if (comma == std::string_view::npos) return {};
            list.remove_prefix(comma + 1);
        }
    };
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "-f") {
            out->foreground = true;
        } else if (a == "-d" || a == "--debug") {
            out->debug = out->foreground = true;
        } else if (a == "-s") {
            out->single_thread = true;
        } else if (a == "-h" || a == "--help") {
            out->help = true;
        } else if (a == "-V" || a == "--version") {
            out->version = true;
        } else if (a == "--check") {
            out->check = true;
        } else if (a == "--repair") {
            out->repair = true;
        } else if (a == "-o") {
            if (++i == argc) return "-o needs an argument";
            if (auto err = apply_list(argv[i]); !err.empty()) return err;
        } else if (a.rfind("-o", 0) == 0) {
            if (auto err = apply_list(a.substr(2)); !err.empty()) return err;
        } else if (a.size() > 1 && a[0] == '-') {
            return "unknown argument: " + std::string(a);
        } else {
            operands.emplace_back(a);
        }
    }
    if (out->help || out->version) return {};
    if (out->repair && !out->check) return "--repair goes with --check";
    if (out->check) {
        if (operands.size() != 1) return "--check needs exactly one BACKING_DIR";
        out->backing = operands[0];
        return {};
    }
    if (operands.size() != 2) return "need BACKING_DIR and MOUNTPOINT";
    out->backing = operands[0];
    out->mountpoint = operands[1];
    return {};
}

}  // namespace pershome::fs
