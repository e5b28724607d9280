#include "tests/uml/pershome_system_guest.hpp"

#include <fmt/core.h>

#include <fstream>
#include <stdexcept>

#include "tests/support/private_bus.hpp"

namespace pershome::test::uml {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& p, const std::string& text) {
    std::ofstream f(p);
    f << text;
    if (!f) throw std::runtime_error("cannot write " + p.string());
}

const char* const kSystemFunctions = R"sh(
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/bus/socket
export TZ=UTC
_name_owned() {
    busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
        NameHasOwner s org.pershome1 2>/dev/null | grep -q 'b true'
}
system_up() {
    mount --bind "$SHARED/passwd" /etc/passwd &&
    mount --bind "$SHARED/group" /etc/group &&
    mount --bind "$SHARED/pam.d" /etc/pam.d || return 1
    mkdir -p /run/tmphome /run/staffhome/staff /run/udev/rules.d /run/bus
    chown 20003:20003 /run/staffhome/staff
    cp "$SHARED/90-pershome-test.rules" /run/udev/rules.d/
    start_udev || return 1
    dbus-daemon --config-file="$SHARED/bus.conf" --fork --print-pid > /run/bus/pid || return 1
    daemon_start
}
daemon_start() {
    "$PERSHOMED_BIN" --config "$SHARED/pershomed.json" >> "$SHARED/pershomed.log" 2>&1 &
    DAEMON_PID=$!
    wait_until 20 _name_owned
}
login_start() {
    rm -f "/run/login-$1.in" "$SHARED/login-$1.out"
    mkfifo "/run/login-$1.in"
    "$PAM_LOGIN_BIN" pershome "$2" < "/run/login-$1.in" > "$SHARED/login-$1.out" 2>&1 &
    eval "LOGIN_PID_$1=\$!"
}
login_wait_open() { wait_until 60 grep -q '^open ' "$SHARED/login-$1.out"; }
login_opened() { grep -q '^open 0 ' "$SHARED/login-$1.out"; }
_ran_count() { grep -c '^ran ' "$SHARED/login-$1.out"; }
_ran_more() { [ "$(_ran_count "$1")" -gt "$2" ]; }
login_run() {
    _lr_n=$(_ran_count "$1")
    printf 'run %s\n' "$3" >&"$2"
    wait_until 60 _ran_more "$1" "$_lr_n" || return 1
    tail -n 1 "$SHARED/login-$1.out" | grep -q '^ran 0$'
}
login_close() {
    echo close >&"$2"
    eval "exec $2>&-"
    eval "wait_pid \$LOGIN_PID_$1 60"
    grep -q '^close 0 ' "$SHARED/login-$1.out"
}
device_prop() {
    busctl --system get-property org.pershome1 "/org/pershome1/device/$1" \
        org.pershome1.Device "$2" 2>&1
}
session_prop() {
    busctl --system get-property org.pershome1 "/org/pershome1/session/$1" \
        org.pershome1.Session "$2" 2>&1
}
prop_is() { [ "$("$1" "$2" "$3")" = "$4" ]; }
mounted_at() { awk -v p="$1" '$5 == p { t = $0 } END { if (t != "") { sub(/.* - /, "", t); split(t, a, " "); print a[1] } }' /proc/self/mountinfo; }
)sh";

}  // namespace

void write_system_files(const fs::path& shared, const SystemFiles& files) {
    write(shared / "passwd",
          "root:x:0:0:root:/root:/bin/sh\n"
          "joseph:x:20001:20001:Joseph:/run/tmphome/joseph:/bin/sh\n"
          "patron:x:20002:20002:Patron:/run/tmphome/patron:/bin/sh\n"
          "staff:x:20003:20003:Staff:/run/staffhome/staff:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
    write(shared / "group",
          "root:x:0:\njoseph:x:20001:\npatron:x:20002:\nstaff:x:20003:\njournalism:x:21000:joseph\n"
          "nogroup:x:65534:\n");
    fs::create_directories(shared / "pam.d");
    fs::create_directories(shared / "skel");
    write(shared / "skel" / ".profile", "# skel\n");
    write(shared / "pam.d" / "pershome",
          fmt::format("session required {} tmphome=/run/tmphome/ skel={}/ debug\n"
                      "session required pam_permit.so\n",
                      PERSHOME_PAM_MODULE, (shared / "skel").string()));
    write(shared / "pam.d" / "other", "session required pam_permit.so\n");
    write(shared / "bus.conf",
          PrivateBus::config("/run/bus/socket", PrivateBus::Policy::System, PERSHOME_POLICY_FILE));
    write(shared / "persistent_homes", files.persistent_homes);
    write(shared / "90-pershome-test.rules",
          fmt::format("SUBSYSTEM==\"block\", KERNEL==\"{}\", ENV{{PERSHOME_STICK}}=\"1\"\n",
                      files.stick_kernel_names));
    write(shared / "pershomed.json",
          fmt::format(R"({{"state_dir": "/run/pershome", "persistent_homes": "{}",
 "pershome_fs": "{}", "log_level": "debug", "logout_grace_sec": 2,
 "tmphome_roots": ["/run/tmphome"]{}}})",
                      (shared / "persistent_homes").string(), PERSHOME_FS_BIN_PATH,
                      files.extra_config));
}

std::string system_guest_library() {
    return fmt::format("PERSHOMED_BIN='{}'\nPAM_LOGIN_BIN='{}'\n", PERSHOMED_BIN_PATH,
                       PAM_LOGIN_BIN_PATH) +
           kSystemFunctions;
}

}  // namespace pershome::test::uml
