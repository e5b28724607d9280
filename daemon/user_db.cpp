#include "daemon/user_db.hpp"
#include "homework/errno_text.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/core.h>

namespace pershome {

tl::expected<UserInfo, std::string> lookup_user(const std::string& name) {
    long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buf(hint > 0 ? static_cast<size_t>(hint) : 4096);
    passwd pw{};
    passwd* result = nullptr;
    int rc;
    while ((rc = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &result)) == ERANGE &&
           buf.size() < (1u << 20)) {
        buf.resize(buf.size() * 2);
    }
    if (rc != 0)
        return tl::unexpected(
            fmt::format("cannot look up user {}: {}", name, homework::errno_text(rc)));
    if (!result) return tl::unexpected(fmt::format("no such user: {}", name));
    return UserInfo{pw.pw_name, pw.pw_uid, pw.pw_gid, pw.pw_dir ? pw.pw_dir : ""};
}

void prime_user_db() {
    char buf[4096];
    passwd pw{};
    passwd* result = nullptr;
    // Only the module's setup matters here; root's entry itself is not used.
    (void)getpwuid_r(0, &pw, buf, sizeof buf, &result);
}

}  // namespace pershome
