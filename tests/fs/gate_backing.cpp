// A test-only passthrough filesystem (libfuse3, high-level API) used as the
// BACKING of pershome-fs, standing in for a slow USB stick: while the file
// GATE exists, every fsync of a file named PERSHOME.IDX blocks (and GATE.held
// is created, so the test knows one is blocked); removing GATE lets it go.
// Likewise GATE.data holds every write to any other file (GATE.data.held
// says one is held), and while GATE.eio exists such writes fail with EIO (a
// stick gone bad). GATE.read holds every read of a PERSHOME.IDX (a large
// index loading from a slow stick; GATE.read.held says one is held), and
// while GATE.idx-eio exists every fsync of a PERSHOME.IDX fails with EIO.
// GATE.fsync holds every fsync of a file whose name is its content (a
// move's sync of the file it moved; GATE.fsync.held says one is held).
//
//   fs_gate_backing SOURCE MOUNTPOINT GATE
//
// Only what pershome-fs does on a FAT backing is passed through: files and
// directories, no links.
#define FUSE_USE_VERSION 312
#include <dirent.h>
#include <fcntl.h>
#include <fuse.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

int g_base = -1;  // the source directory
std::string g_gate;

// "/a/b" -> "a/b" relative to g_base; "/" -> ".".
const char* rel(const char* path) {
    return path[1] ? path + 1 : ".";
}

int err_or(int rc) {
    return rc == 0 ? 0 : -errno;
}

bool is_index(const char* path) {
    const char* slash = std::strrchr(path, '/');
    return std::strcmp(slash ? slash + 1 : path, "PERSHOME.IDX") == 0;
}

void hold_at(const std::string& gate) {
    if (access(gate.c_str(), F_OK) != 0) return;
    const std::string held = gate + ".held";
    const int fd = open(held.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) close(fd);
    // Waits on the test's condition (the gate gone); a fsync on a real
    // stick takes this long for its own reasons.
    while (access(gate.c_str(), F_OK) == 0) poll(nullptr, 0, 2);
}

int op_getattr(const char* path, struct stat* st, fuse_file_info* fi) {
    if (fi) return err_or(fstat(static_cast<int>(fi->fh), st));
    return err_or(fstatat(g_base, rel(path), st, AT_SYMLINK_NOFOLLOW));
}

int op_opendir(const char* path, fuse_file_info* fi) {
    const int fd = openat(g_base, rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    fi->fh = static_cast<uint64_t>(fd);
    return 0;
}

int op_readdir(const char*, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info* fi,
               fuse_readdir_flags) {
    const int fd = dup(static_cast<int>(fi->fh));
    if (fd < 0) return -errno;
    DIR* dir = fdopendir(fd);
    if (!dir) {
        close(fd);
        return -ENOMEM;
    }
    rewinddir(dir);
    while (dirent* de = readdir(dir)) {
        struct stat st {};
        st.st_ino = de->d_ino;
        st.st_mode = static_cast<mode_t>(de->d_type) << 12;
        if (fill(buf, de->d_name, &st, 0, static_cast<fuse_fill_dir_flags>(0))) break;
    }
    closedir(dir);
    return 0;
}

int op_releasedir(const char*, fuse_file_info* fi) {
    close(static_cast<int>(fi->fh));
    return 0;
}

int op_fsyncdir(const char*, int datasync, fuse_file_info* fi) {
    const int fd = static_cast<int>(fi->fh);
    return err_or(datasync ? fdatasync(fd) : fsync(fd));
}

int op_mkdir(const char* path, mode_t mode) {
    return err_or(mkdirat(g_base, rel(path), mode));
}

int op_rmdir(const char* path) {
    return err_or(unlinkat(g_base, rel(path), AT_REMOVEDIR));
}

int op_unlink(const char* path) {
    return err_or(unlinkat(g_base, rel(path), 0));
}

int op_rename(const char* from, const char* to, unsigned int flags) {
    return err_or(renameat2(g_base, rel(from), g_base, rel(to), flags));
}

int op_chmod(const char* path, mode_t mode, fuse_file_info*) {
    return err_or(fchmodat(g_base, rel(path), mode, 0));
}

int op_truncate(const char* path, off_t size, fuse_file_info* fi) {
    if (fi) return err_or(ftruncate(static_cast<int>(fi->fh), size));
    const int fd = openat(g_base, rel(path), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    const int rc = err_or(ftruncate(fd, size));
    close(fd);
    return rc;
}

int op_utimens(const char* path, const timespec tv[2], fuse_file_info* fi) {
    if (fi) return err_or(futimens(static_cast<int>(fi->fh), tv));
    return err_or(utimensat(g_base, rel(path), tv, AT_SYMLINK_NOFOLLOW));
}

int op_create(const char* path, mode_t mode, fuse_file_info* fi) {
    const int fd = openat(g_base, rel(path), fi->flags | O_CLOEXEC, mode);
    if (fd < 0) return -errno;
    fi->fh = static_cast<uint64_t>(fd);
    return 0;
}

int op_open(const char* path, fuse_file_info* fi) {
    const int fd = openat(g_base, rel(path), fi->flags | O_CLOEXEC);
    if (fd < 0) return -errno;
    fi->fh = static_cast<uint64_t>(fd);
    return 0;
}

int op_read(const char* path, char* buf, size_t size, off_t off, fuse_file_info* fi) {
    if (path && is_index(path)) hold_at(g_gate + ".read");
    const ssize_t n = pread(static_cast<int>(fi->fh), buf, size, off);
    return n < 0 ? -errno : static_cast<int>(n);
}

int op_write(const char* path, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
    if (!is_index(path)) {
        hold_at(g_gate + ".data");
        if (access((g_gate + ".eio").c_str(), F_OK) == 0) return -EIO;
    }
    const ssize_t n = pwrite(static_cast<int>(fi->fh), buf, size, off);
    return n < 0 ? -errno : static_cast<int>(n);
}

int op_release(const char*, fuse_file_info* fi) {
    close(static_cast<int>(fi->fh));
    return 0;
}

// Whether `path`'s last component is GATE.fsync's content.
bool fsync_gated(const char* path) {
    const int fd = open((g_gate + ".fsync").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char name[256];
    const ssize_t n = read(fd, name, sizeof name - 1);
    close(fd);
    if (n <= 0) return false;
    name[n] = 0;
    const char* slash = std::strrchr(path, '/');
    return std::strcmp(slash ? slash + 1 : path, name) == 0;
}

int op_fsync(const char* path, int datasync, fuse_file_info* fi) {
    if (is_index(path)) hold_at(g_gate);
    if (fsync_gated(path)) hold_at(g_gate + ".fsync");
    if (is_index(path) && access((g_gate + ".idx-eio").c_str(), F_OK) == 0) return -EIO;
    const int fd = static_cast<int>(fi->fh);
    return err_or(datasync ? fdatasync(fd) : fsync(fd));
}

int op_fallocate(const char*, int mode, off_t off, off_t len, fuse_file_info* fi) {
    return err_or(fallocate(static_cast<int>(fi->fh), mode, off, len));
}

void* op_init(fuse_conn_info*, fuse_config* cfg) {
    // pershome-fs must not see .fuse_hidden files of names unlinked while open.
    cfg->hard_remove = 1;
    return nullptr;
}

int op_statfs(const char*, struct statvfs* st) {
    return err_or(fstatvfs(g_base, st));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s SOURCE MOUNTPOINT GATE\n", argv[0]);
        return 2;
    }
    g_base = open(argv[1], O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (g_base < 0) {
        std::perror(argv[1]);
        return 1;
    }
    g_gate = argv[3];
    fuse_operations ops{};
    ops.getattr = op_getattr;
    ops.opendir = op_opendir;
    ops.readdir = op_readdir;
    ops.releasedir = op_releasedir;
    ops.fsyncdir = op_fsyncdir;
    ops.mkdir = op_mkdir;
    ops.rmdir = op_rmdir;
    ops.unlink = op_unlink;
    ops.rename = op_rename;
    ops.chmod = op_chmod;
    ops.truncate = op_truncate;
    ops.utimens = op_utimens;
    ops.create = op_create;
    ops.open = op_open;
    ops.read = op_read;
    ops.write = op_write;
    ops.release = op_release;
    ops.fsync = op_fsync;
    ops.fallocate = op_fallocate;
    ops.statfs = op_statfs;
    ops.init = op_init;
    // Multi-threaded (the default), so a held fsync holds nothing else.
    std::vector<std::string> args = {argv[0], "-f", argv[2]};
    std::vector<char*> fargv;
    for (auto& a : args) fargv.push_back(a.data());
    return fuse_main(static_cast<int>(fargv.size()), fargv.data(), &ops, nullptr);
}
