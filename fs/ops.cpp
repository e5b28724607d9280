#include "fs/ops.hpp"

namespace pershome::fs {

const fuse_lowlevel_ops& pershome_ops() {
    static const fuse_lowlevel_ops table = [] {
        fuse_lowlevel_ops o{};
        o.init = ops::init;
        o.destroy = ops::destroy;
        o.lookup = ops::lookup;
        o.forget = ops::forget;
        o.forget_multi = ops::forget_multi;
        o.getattr = ops::getattr;
        o.setattr = ops::setattr;
        o.readlink = ops::readlink;
        o.mknod = ops::mknod;
        o.mkdir = ops::mkdir;
        o.symlink = ops::symlink;
        o.create = ops::create;
        o.unlink = ops::unlink;
        o.rmdir = ops::rmdir;
        o.rename = ops::rename;
        o.link = ops::link;
        o.open = ops::open;
        o.read = ops::read;
        o.write_buf = ops::write_buf;
        o.flush = ops::flush;
        o.release = ops::release;
        o.fsync = ops::fsync;
        o.fallocate = ops::fallocate;
        o.opendir = ops::opendir;
        o.readdir = ops::readdir;
        o.releasedir = ops::releasedir;
        o.fsyncdir = ops::fsyncdir;
        o.statfs = ops::statfs;
        o.setxattr = ops::setxattr;
        o.getxattr = ops::getxattr;
        o.listxattr = ops::listxattr;
        o.removexattr = ops::removexattr;
        return o;
    }();
    return table;
}

}  // namespace pershome::fs
