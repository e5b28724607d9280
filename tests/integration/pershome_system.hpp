// The whole system for integration tests, inside the test's private mount
// namespace and temp dir: fake users (nss_wrapper), a private system bus with
// the shipped policy, the real pershomed as a child process, and logins
// through the real PAM stack (pam_wrapper) with the real pam_pershome.so.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <sdbus-c++/sdbus-c++.h>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/private_bus.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace pershome::test {

namespace fs = std::filesystem;

// One login (pershome-pam-login) holding its PAM session open.
class Login {
  public:
    int open_rc = -1;
    std::string open_text;  // everything printed up to and including the "open" line

    // Runs COMMAND as the user in the home; returns its output lines joined.
    std::string run(const std::string& command, int* status = nullptr);
    // Closes the session; returns the PAM rc of pam_close_session (-1 if none).
    int close();
    // The login process dies without closing anything (a crash).
    void crash();

    Child child;
};

// Constructed first: the namespace and a private /tmp exist before anything
// else of the system does.
struct PrivateTmp {
    PrivateTmp();
};

class PershomeSystem : private PrivateTmp {
  public:
    static constexpr int kPatrons = 60;
    static constexpr uid_t kFirstUid = 20000;

    // Enters a private mount namespace first (see mount_namespace.hpp). The
    // bus has the system bus's policy plus ours, unless POLICY says Open.
    explicit PershomeSystem(PrivateBus::Policy policy = PrivateBus::Policy::System);
    ~PershomeSystem();

    const fs::path& dir() const { return tmp_.path(); }
    fs::path tmphome() const { return tmp_ / "tmphome"; }
    fs::path skel() const { return tmp_ / "skel"; }
    fs::path home(const std::string& user) const { return tmphome() / user; }
    fs::path state_dir() const { return tmp_ / "state"; }
    uid_t uid_of(const std::string& user) const;

    // Rewrites pershomed.json: the test's state dir and persistent_homes
    // (dir()/persistent_homes, absent unless a test writes it), plus
    // EXTRA_MEMBERS (",\n \"key\": value"). Before start_daemon.
    void configure(const std::string& extra_members);

    // Writes the PAM service NAME: "session required pam_pershome.so ARGS".
    void service(const std::string& name, const std::string& args,
                 const std::string& control = "required");

    // VAR=value for the daemon's environment from the next start_daemon on.
    void daemon_env(std::string var) { daemon_env_.push_back(std::move(var)); }
    void clear_daemon_env() { daemon_env_.clear(); }
    void start_daemon();
    void kill_daemon(int signo);
    std::string daemon_log() const;

    // Starts a login and waits for pam_open_session to return.
    std::unique_ptr<Login> login(const std::string& user, const std::string& service = "login");
    // Starts a login without waiting; then wait_open(). With ON_REQUEST it
    // stops after pam_start until open_now(): pam_wrapper's setup in each
    // process races with others started at the same instant, so many logins
    // are started one by one and then opened at once.
    std::unique_ptr<Login> start_login(const std::string& user,
                                       const std::string& service = "login",
                                       bool on_request = false);
    static void open_now(Login& login);
    static void wait_open(Login& login);

    sdbus::IConnection& bus();
    std::optional<uint32_t> session_references(const std::string& user);
    std::string session_property_string(const std::string& user, const std::string& name);

    void keep_on_failure() { tmp_.keep(); }

  private:
    std::vector<std::string> login_env() const;

    TempDir tmp_{"pershome-it", "/var/tmp"};
    std::unique_ptr<PrivateBus> bus_;
    Child daemon_;
    std::vector<std::string> daemon_env_;
    std::unique_ptr<sdbus::IConnection> connection_;
    int daemon_starts_ = 0;
};

// Waits until PRED() holds or SECONDS pass; returns whether it held.
template <typename Pred>
bool eventually(Pred pred, double seconds = 10.0) {
    auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(seconds));
    while (Clock::now() < deadline) {
        if (pred()) return true;
        ::poll(nullptr, 0, 10);
    }
    return pred();
}

}  // namespace pershome::test
