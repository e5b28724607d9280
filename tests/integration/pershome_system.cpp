#include "tests/integration/pershome_system.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdexcept>

#include "common/bus_names.hpp"
#include "common/path_escape.hpp"
#include "tests/support/mount_namespace.hpp"

namespace pershome::test {
namespace {

using namespace std::chrono_literals;

// In a sanitizer build the programs are built with ASan. The cwrap wrappers
// dlopen with RTLD_DEEPBIND, which ASan refuses, unless they see libasan in
// LD_PRELOAD; so it goes first there.
std::string preload(const std::string& libs) {
    const std::string asan = ASAN_RUNTIME;
    return "LD_PRELOAD=" + (asan.empty() ? libs : asan + " " + libs);
}
constexpr const char* kAsanOptions = "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1";

}  // namespace

std::string Login::run(const std::string& command, int* status) {
    const size_t start = child.out_text.size();
    child.write_stdin("run " + command + "\n");
    size_t end = 0;
    auto ran = child.wait_line("ran ", Clock::now() + 60s, start, &end);
    if (!ran) throw std::runtime_error("command did not finish: " + command);
    if (status) *status = std::stoi(ran->substr(4));
    std::string out;
    size_t pos = start;
    while (pos < end) {
        size_t nl = child.out_text.find('\n', pos);
        std::string line = child.out_text.substr(pos, nl - pos);
        if (line.rfind("out: ", 0) == 0) out += line.substr(5) + "\n";
        pos = nl + 1;
    }
    return out;
}

int Login::close() {
    const size_t start = child.out_text.size();
    child.write_stdin("close\n");
    child.close_stdin();
    auto line = child.wait_line("close ", Clock::now() + 60s, start);
    child.wait(Clock::now() + 10s);
    if (!line) return -1;
    return std::stoi(line->substr(6));
}

void Login::crash() {
    child.kill_and_reap();
}

PrivateTmp::PrivateTmp() {
    mount_private_tmp();
}

PershomeSystem::PershomeSystem(PrivateBus::Policy policy) {
    // Users must reach their homes below it.
    fs::permissions(dir(), fs::perms(0755));
    std::string passwd = "root:x:0:0:root:/root:/bin/sh\n";
    std::string group = "root:x:0:\n";
    for (int i = 0; i < kPatrons; ++i) {
        const std::string name = "patron" + std::to_string(i);
        const uid_t uid = kFirstUid + static_cast<uid_t>(i);
        passwd += name + ":x:" + std::to_string(uid) + ":" + std::to_string(uid) + ":Patron " +
                  std::to_string(i) + ":" + home(name).string() + ":/bin/sh\n";
        group += name + ":x:" + std::to_string(uid) + ":\n";
    }
    // A user whose home is not below the tmphome root.
    passwd += "staff:x:19999:19999:Staff:" + (dir() / "homes" / "staff").string() + ":/bin/sh\n";
    group += "staff:x:19999:\n";
    // Two names of one account, as a case-insensitive directory answers.
    passwd += "Patron3:x:" + std::to_string(kFirstUid + 3) + ":" + std::to_string(kFirstUid + 3) +
              ":Patron 3:" + home("patron3").string() + ":/bin/sh\n";
    // Another account whose passwd home is patron4's.
    passwd += "intruder:x:19998:19998:Intruder:" + home("patron4").string() + ":/bin/sh\n";
    group += "intruder:x:19998:\n";
    // Users below the unsafe tmphome roots that tests put on PAM lines: a
    // root is judged for the users it applies to.
    const std::vector<std::pair<std::string, fs::path>> below_bad_roots = {
        {"hh", "/home/hh"},
        {"hx", "/home/x/hx"},
        {"wopen", dir() / "open" / "wopen"},
        {"wowned", dir() / "owned" / "wowned"},
        {"wlink", dir() / "link" / "wlink"}};
    uid_t next_uid = 19990;
    for (const auto& [name, home] : below_bad_roots) {
        const std::string id = std::to_string(next_uid--);
        passwd += name + ":x:" + id + ":" + id + "::" + home.string() + ":/bin/sh\n";
    }
    write_file(dir() / "passwd", passwd);
    write_file(dir() / "group", group);

    fs::create_directory(tmphome());
    fs::permissions(tmphome(), fs::perms(0755));
    fs::create_directories(skel() / ".config" / "app");
    write_file(skel() / ".bashrc", "# demo bashrc\n");
    write_file(skel() / ".config" / "app" / "settings", "volume=3\n");
    fs::permissions(skel() / ".config" / "app" / "settings", fs::perms(0600));
    fs::create_symlink(".config/app/settings", skel() / "settings-link");
    fs::create_directory(dir() / "pam.d");
    configure("");

    bus_ = std::make_unique<PrivateBus>(dir(), policy, PERSHOME_POLICY_FILE);
    setenv("DBUS_SYSTEM_BUS_ADDRESS", bus_->address().c_str(), 1);
    service("login",
            "tmphome=" + tmphome().string() + "/ skel=" + skel().string() + "/ umask=0077 debug");
}

PershomeSystem::~PershomeSystem() {
    connection_.reset();
    // A clean stop, so that a sanitizer build reports leaks at exit; any
    // sanitizer report in the daemon's log fails the test.
    daemon_.signal(SIGTERM);
    daemon_.wait(Clock::now() + 20s);
    daemon_.kill_and_reap();
    const std::string log = daemon_log();
    for (const char* alarm : {"Sanitizer", "runtime error:"}) {
        if (log.find(alarm) != std::string::npos) ADD_FAILURE() << "pershomed: " << log;
    }
    // Leave nothing mounted under our temp dir (we are in a private
    // namespace, but the dir must be removable).
    std::string cmd = "umount -R -q " + dir().string() + "/tmphome/*/* 2>/dev/null";
    (void)!system(cmd.c_str());
}

void PershomeSystem::configure(const std::string& extra_members) {
    // persistent_homes in the temp dir: the machine's own never applies.
    write_file(dir() / "pershomed.json",
               "{\n  \"state_dir\": \"" + state_dir().string() +
                   "\",\n  \"log_level\": \"debug\",\n  \"persistent_homes\": \"" +
                   (dir() / "persistent_homes").string() + "\"" + extra_members + "\n}\n");
}

uid_t PershomeSystem::uid_of(const std::string& user) const {
    return kFirstUid + static_cast<uid_t>(std::stoi(user.substr(6)));
}

void PershomeSystem::service(const std::string& name, const std::string& args,
                             const std::string& control) {
    // pam_permit after ours, as a real stack has other modules: a stack of
    // nothing but PAM_IGNORE would fail as a whole.
    write_file(dir() / "pam.d" / name, "session " + control + " " +
                                           std::string(PERSHOME_PAM_MODULE) + " " + args +
                                           "\nsession required " + PAM_PERMIT_PATH + "\n");
}

void PershomeSystem::start_daemon() {
    auto env = clean_environment();
    env.push_back("DBUS_SYSTEM_BUS_ADDRESS=" + bus_->address());
    env.push_back(preload("libnss_wrapper.so"));
    env.push_back("NSS_WRAPPER_PASSWD=" + (dir() / "passwd").string());
    env.push_back("NSS_WRAPPER_GROUP=" + (dir() / "group").string());
    env.push_back(kAsanOptions);
    env.insert(env.end(), daemon_env_.begin(), daemon_env_.end());
    daemon_.kill_and_reap();
    daemon_.start({PERSHOMED_PATH, "--config", (dir() / "pershomed.json").string()}, env,
                  (dir() / "pershomed.log").string());
    ++daemon_starts_;
    // Ready when it owns its name.
    bool up = eventually(
        [&] {
            try {
                auto proxy =
                    sdbus::createProxy(bus(), "org.freedesktop.DBus", "/org/freedesktop/DBus");
                bool has = false;
                proxy->callMethod("NameHasOwner")
                    .onInterface("org.freedesktop.DBus")
                    .withArguments(std::string(bus::kBusName))
                    .storeResultsTo(has);
                return has;
            } catch (const sdbus::Error&) {
                return false;
            }
        },
        20);
    if (!up) throw std::runtime_error("pershomed did not come up: " + daemon_log());
}

void PershomeSystem::kill_daemon(int signo) {
    daemon_.signal(signo);
    daemon_.wait(Clock::now() + 20s);
    daemon_.kill_and_reap();
}

std::string PershomeSystem::daemon_log() const {
    return read_file(dir() / "pershomed.log");
}

std::vector<std::string> PershomeSystem::login_env() const {
    auto env = clean_environment();
    env.push_back("DBUS_SYSTEM_BUS_ADDRESS=" + bus_->address());
    env.push_back(preload("libpam_wrapper.so libnss_wrapper.so"));
    env.push_back("PAM_WRAPPER=1");
    env.push_back("PAM_WRAPPER_SERVICE_DIR=" + (dir() / "pam.d").string());
    env.push_back("PAM_WRAPPER_DEBUGLEVEL=2");
    env.push_back("NSS_WRAPPER_PASSWD=" + (dir() / "passwd").string());
    env.push_back("NSS_WRAPPER_GROUP=" + (dir() / "group").string());
    env.push_back(kAsanOptions);
    return env;
}

std::unique_ptr<Login> PershomeSystem::start_login(const std::string& user,
                                                   const std::string& service, bool on_request) {
    auto login = std::make_unique<Login>();
    if (!on_request) {
        login->child.start({PAM_LOGIN_PATH, service, user}, login_env());
        return login;
    }
    login->child.start({PAM_LOGIN_PATH, "--open-on-request", service, user}, login_env());
    if (!login->child.wait_line("ready", Clock::now() + 30s)) {
        throw std::runtime_error("login did not get ready: " + login->child.out_text +
                                 login->child.err_text);
    }
    return login;
}

void PershomeSystem::open_now(Login& login) {
    login.child.write_stdin("open\n");
}

void PershomeSystem::wait_open(Login& login) {
    size_t end = 0;
    auto line = login.child.wait_line("open ", Clock::now() + 60s, 0, &end);
    if (!line) {
        throw std::runtime_error("login did not open: " + login.child.out_text +
                                 login.child.err_text);
    }
    login.open_rc = std::stoi(line->substr(5));
    login.open_text = login.child.out_text.substr(0, end);
}

std::unique_ptr<Login> PershomeSystem::login(const std::string& user, const std::string& service) {
    auto l = start_login(user, service);
    wait_open(*l);
    return l;
}

sdbus::IConnection& PershomeSystem::bus() {
    if (!connection_) connection_ = sdbus::createSystemBusConnection();
    return *connection_;
}

std::optional<uint32_t> PershomeSystem::session_references(const std::string& user) {
    try {
        auto proxy = sdbus::createProxy(
            bus(), bus::kBusName, std::string(bus::kSessionPathPrefix) + "/" + path_escape(user));
        uint32_t refs = proxy->getProperty("References").onInterface(bus::kSessionInterface);
        return refs;
    } catch (const sdbus::Error&) {
        return std::nullopt;
    }
}

std::string PershomeSystem::session_property_string(const std::string& user,
                                                    const std::string& name) {
    auto proxy = sdbus::createProxy(bus(), bus::kBusName,
                                    std::string(bus::kSessionPathPrefix) + "/" + path_escape(user));
    std::string value = proxy->getProperty(name).onInterface(bus::kSessionInterface);
    return value;
}

}  // namespace pershome::test
