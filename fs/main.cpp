// pershome-fs: mount a POSIX view of a directory on a FAT stick.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fs/check.hpp"
#include "fs/fs.hpp"

#ifndef PERSHOME_VERSION
#define PERSHOME_VERSION "unknown"
#endif

using namespace pershome::fs;

namespace {

// Directory fds are kept open for every loaded directory.
void raise_fd_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

// N when PATH is /proc/self/fd/N or /dev/fd/N: a directory the caller
// opened and checked, handed over so that no path is walked again.
int handed_fd(const std::string& path) {
    for (std::string_view prefix : {"/proc/self/fd/", "/dev/fd/"}) {
        if (path.rfind(prefix, 0) != 0) continue;
        const std::string digits = path.substr(prefix.size());
        if (digits.empty() || digits.size() > 6 ||
            digits.find_first_not_of("0123456789") != std::string::npos)
            return -1;
        return std::stoi(digits);
    }
    return -1;
}

bool has_fsname(const Options& opt) {
    for (const auto& o : opt.fuse_options)
        if (o.rfind("fsname=", 0) == 0) return true;
    return false;
}

int run_mount(const Options& opt) {
    pershome::UniqueFd root(open(opt.backing.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) {
        std::perror(("pershome-fs: " + opt.backing).c_str());
        return 1;
    }
    // Reopened above; the caller's copy would only pin the directory twice.
    if (int fd = handed_fd(opt.backing); fd > 2) ::close(fd);
    raise_fd_limit();
    std::string mount_opts = "subtype=pershome-fs,nosuid,nodev,default_permissions";
    if (!has_fsname(opt)) mount_opts = "fsname=" + opt.backing + "," + mount_opts;
    if (opt.read_only) mount_opts += ",ro";
    for (const auto& o : opt.fuse_options) mount_opts += "," + o;
    std::vector<std::string> args = {"pershome-fs", "-o", mount_opts};
    if (opt.debug) args.emplace_back("-d");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

    auto fs = std::make_unique<Fs>(opt, std::move(root));
    fuse_session* se =
        fuse_session_new(&fargs, &pershome_ops(), sizeof(fuse_lowlevel_ops), fs.get());
    if (!se) return 1;
    int rc = 1;
    if (fuse_set_signal_handlers(se) == 0) {
        if (fuse_session_mount(se, opt.mountpoint.c_str()) == 0) {
            if (fs->passthrough().attach(se) != 0)
                std::fprintf(
                    stderr,
                    "pershome-fs: passthrough not available: reads go through the daemon\n");
            if (fuse_daemonize(opt.foreground ? 1 : 0) == 0) {
                fs->start_flusher();
                fs->write_behind().start();
                if (opt.single_thread) {
                    rc = fuse_session_loop(se);
                } else {
                    fuse_loop_config* cfg = fuse_loop_cfg_create();
                    fuse_loop_cfg_set_max_threads(cfg, opt.max_threads);
                    rc = fuse_session_loop_mt(se, cfg);
                    fuse_loop_cfg_destroy(cfg);
                }
                // A positive value is the signal (SIGTERM, SIGINT) that ended
                // the loop: a normal way to stop.
                rc = rc >= 0 ? 0 : 1;
            }
            fuse_session_unmount(se);
        }
        fuse_remove_signal_handlers(se);
    }
    // Calls destroy (final flush and the write counters) if init happened.
    fuse_session_destroy(se);
    fs.reset();
    fuse_opt_free_args(&fargs);
    return rc;
}

}  // namespace

int main(int argc, char** argv) {
    Options opt;
    const std::string err = parse_options(argc, argv, &opt);
    if (opt.help) {
        std::fputs(kUsage, stdout);
        return 0;
    }
    if (opt.version) {
        std::printf("pershome-fs %s (on-stick format 1, libfuse %s)\n", PERSHOME_VERSION,
                    fuse_pkgversion());
        return 0;
    }
    if (!err.empty()) {
        std::fprintf(stderr, "pershome-fs: %s\n%s", err.c_str(), kUsage);
        // --check's 2 means damage found; a script must not read a typo so.
        return opt.check ? kCheckFailed : 2;
    }
    if (opt.check) return run_check(opt.backing, opt.repair, opt.umask);
    return run_mount(opt);
}
