// pam_pershome.so in a real PAM stack: Linux-PAM through pam_wrapper, fake
// users through nss_wrapper, driven by pamtester; a private dbus-daemon of
// type "system" stands for the system bus, and stub_pershomed (a stand-in
// for pershomed, see its header) owns org.pershome1. The tests with the real
// pershomed are in tests/integration/.
//
// Every wait here is on a condition with a deadline; every process is ours
// and is killed by its pid.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/unique_fd.hpp"
#include "tests/support/private_bus.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using pershome::UniqueFd;
using pershome::test::Child;
using pershome::test::Clock;
using pershome::test::PrivateBus;
using pershome::test::read_file;
using pershome::test::write_file;
using namespace std::chrono_literals;

const std::string kModule = PAM_MODULE_PATH;
const std::string kPamPermit = PAM_PERMIT_PATH;
const std::string kStub = STUB_PATH;
const std::string kAsanRuntime = ASAN_RUNTIME;  // empty unless built with ASan

// pam_strerror texts pamtester prints for a failed operation.
const std::string kSessionErr = "Cannot make/remove an entry for the specified session";
// What Linux-PAM returns when every module of the stack answered PAM_IGNORE.
const std::string kAllIgnored = "Permission denied";

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> v;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) v.push_back(l);
    return v;
}

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

bool contains(const std::string& hay, const std::string& needle) {
    return hay.find(needle) != std::string::npos;
}

struct PamRun {
    int status = -1;  // wait status
    std::string out, err;
    double seconds = 0;
    bool ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
    std::string all() const { return "--- stdout:\n" + out + "--- stderr:\n" + err; }
};

class PamTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (kModule.empty() || kPamPermit.empty() || access(PAMTESTER_PATH, X_OK) != 0)
            GTEST_SKIP() << "pamtester or pam_permit.so not found at configure time";
        if (ASAN_BUILD && kAsanRuntime.empty())
            GTEST_SKIP() << "the module is built with ASan but libasan was not found to "
                            "preload into pamtester";
        char tmpl[] = "/tmp/pershome-pam-test.XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        fs::create_directories(dir_ / "pam.d");
        fs::create_directories(dir_ / "fifos");
        write_file(dir_ / "passwd",
                   "root:x:0:0:root:/root:/bin/sh\n"
                   "joseph:x:1000:1000:Joseph:/tmphome/joseph:/bin/sh\n"
                   "patron:x:1001:1001:Patron:/home/patron:/bin/sh\n"
                   "broken:x:1002:1002:Broken:/tmphome/broken:/bin/sh\n");
        write_file(dir_ / "group", "root:x:0:\njoseph:x:1000:\npatron:x:1001:\nbroken:x:1002:\n");
        bus_address_ = "unix:path=" + (dir_ / "no-such-bus").string();
    }

    void TearDown() override {
        stub_.kill_and_reap();
        bus_.reset();
        if (!dir_.empty() && !HasFailure())
            fs::remove_all(dir_);
        else if (!dir_.empty())
            std::cerr << "kept " << dir_ << " for a look\n";
    }

    // A PAM service SERVICE whose session stack is LINES; "MODULE" in a line
    // is replaced by the module's absolute path.
    void service(const std::string& name, const std::vector<std::string>& lines) {
        std::string text;
        for (auto l : lines) {
            auto at = l.find("MODULE");
            if (at != std::string::npos) l.replace(at, 6, kModule);
            at = l.find("PERMIT");
            if (at != std::string::npos) l.replace(at, 6, kPamPermit);
            text += l + "\n";
        }
        write_file(dir_ / "pam.d" / name, text);
    }

    std::vector<std::string> base_env() {
        auto env = pershome::test::clean_environment();
        env.push_back("DBUS_SYSTEM_BUS_ADDRESS=" + bus_address_);
        return env;
    }

    PamRun pamtester(const std::string& svc, const std::string& user,
                     const std::vector<std::string>& ops) {
        std::vector<std::string> argv = {PAMTESTER_PATH, "-v", svc, user};
        argv.insert(argv.end(), ops.begin(), ops.end());
        return run_pam(argv);
    }

    // pam_app (see pam_app.cpp): opens and closes a session and reports
    // what changed in its process.
    PamRun app(const std::string& svc, const std::string& user, const std::string& tty = "") {
        if (tty.empty()) return run_pam({PAM_APP_PATH, svc, user});
        return run_pam({PAM_APP_PATH, svc, user, tty});
    }

    // Runs ARGV with pam_wrapper and nss_wrapper preloaded.
    PamRun run_pam(const std::vector<std::string>& argv) {
        auto env = base_env();
        std::string preload = "libpam_wrapper.so libnss_wrapper.so";
        if (!kAsanRuntime.empty()) {
            // An ASan-built module needs the runtime loaded first. Leak
            // checking stays on: pamtester, libpam and the wrappers were seen
            // to leak nothing, so any report is the module's.
            preload = kAsanRuntime + " " + preload;
            env.push_back("ASAN_OPTIONS=detect_leaks=1");
        }
        env.push_back("LD_PRELOAD=" + preload);
        env.push_back("PAM_WRAPPER=1");
        env.push_back("PAM_WRAPPER_SERVICE_DIR=" + (dir_ / "pam.d").string());
        // pam_wrapper prints pam_syslog lines (LOG_DEBUG too) on stderr
        // from this level on.
        env.push_back("PAM_WRAPPER_DEBUGLEVEL=2");
        env.push_back("NSS_WRAPPER_PASSWD=" + (dir_ / "passwd").string());
        env.push_back("NSS_WRAPPER_GROUP=" + (dir_ / "group").string());
        PamRun run;
        Child c;
        auto t0 = Clock::now();
        c.start(argv, env);
        c.close_stdin();
        bool drained = c.read_until(t0 + 60s);
        run.status = c.wait(t0 + 60s);
        run.seconds = seconds_since(t0);
        run.out = c.out_text;
        run.err = c.err_text;
        EXPECT_TRUE(drained && run.status != -1) << argv[0] << " did not finish in 60 s\n"
                                                 << run.all();
        // Failing runs are expected in many tests, so a sanitizer report is
        // looked for in the output rather than in the exit status.
        EXPECT_FALSE(contains(run.err, "Sanitizer")) << run.all();
        EXPECT_FALSE(contains(run.err, "runtime error:")) << run.all();
        return run;
    }

    void start_bus() {
        bus_ = std::make_unique<PrivateBus>(dir_, PrivateBus::Policy::Open);
        bus_address_ = bus_->address();
    }

    void start_stub(const std::string& mode) {
        record_ = dir_ / "calls.log";
        stub_.start({kStub, "--mode=" + mode, "--record=" + record_.string(),
                     "--fifo-dir=" + (dir_ / "fifos").string()},
                    base_env());
        ASSERT_TRUE(stub_.read_until(Clock::now() + 10s, "ready\n")) << stub_.err_text;
        ASSERT_NE(stub_.out_text.find("ready"), std::string::npos) << stub_.err_text;
    }

    // The stub's record, once it has at least N lines (or after 10 s).
    std::vector<std::string> calls(size_t n) {
        auto deadline = Clock::now() + 10s;
        std::vector<std::string> v;
        while (true) {
            v = lines_of(read_file(record_));
            if (v.size() >= n || Clock::now() >= deadline) return v;
            poll(nullptr, 0, 10);
        }
    }

    fs::path dir_;
    fs::path record_;
    std::string bus_address_;
    std::unique_ptr<PrivateBus> bus_;
    Child stub_;
};

// --- no daemon at all ---------------------------------------------------

TEST_F(PamTest, NoBusRequiredFailsFastWithLogLine) {
    service("svc", {"session required MODULE tmphome=/tmphome/ timeout=5"});
    PamRun r = pamtester("svc", "joseph", {"open_session"});
    EXPECT_FALSE(r.ok()) << r.all();
    EXPECT_TRUE(contains(r.err, kSessionErr)) << r.all();
    EXPECT_LT(r.seconds, 1.5) << r.all();
    EXPECT_TRUE(contains(r.err, "pershome: cannot reach the system bus at " + bus_address_))
        << r.all();
    EXPECT_TRUE(contains(r.err, "for user joseph; session setup skipped")) << r.all();
}

TEST_F(PamTest, NoBusOptionalLetsTheLoginGoOn) {
    service("svc",
            {"session optional MODULE tmphome=/tmphome/ timeout=5", "session required PERMIT"});
    PamRun r = pamtester("svc", "joseph", {"open_session", "close_session"});
    EXPECT_TRUE(r.ok()) << r.all();
    EXPECT_LT(r.seconds, 1.5) << r.all();
    EXPECT_TRUE(contains(r.err, "session setup skipped")) << r.all();
}

TEST_F(PamTest, BusWithoutDaemonFailsFast) {
    start_bus();
    service("svc", {"session required MODULE timeout=5"});
    PamRun r = pamtester("svc", "joseph", {"open_session"});
    EXPECT_FALSE(r.ok()) << r.all();
    EXPECT_LT(r.seconds, 2.0) << r.all();
    EXPECT_TRUE(contains(r.err, "org.freedesktop.DBus.Error.ServiceUnknown")) << r.all();
    EXPECT_TRUE(contains(r.err, "session setup skipped")) << r.all();
}

// --- a daemon or a bus that never answers -------------------------------

TEST_F(PamTest, HungDaemonIsBoundedByTimeout) {
    start_bus();
    start_stub("hang");
    service("svc", {"session required MODULE tmphome=/tmphome/ timeout=2"});
    PamRun r = pamtester("svc", "joseph", {"open_session"});
    std::cerr << "hung daemon, timeout=2: pamtester took " << r.seconds << " s\n";
    EXPECT_FALSE(r.ok()) << r.all();
    EXPECT_GE(r.seconds, 1.9) << r.all();
    EXPECT_LT(r.seconds, 4.0) << r.all();
    EXPECT_TRUE(contains(r.err,
                         "pershome: no answer from org.pershome1 within 2 s for user "
                         "joseph (OpenSession); session setup skipped"))
        << r.all();
}

TEST_F(PamTest, SilentSocketIsBoundedByTimeout) {
    // A "bus" that accepts connections and never says a word: the module is
    // stuck in authentication, before any method call.
    UniqueFd lsock(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(lsock);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::string path = (dir_ / "silent").string();
    ASSERT_LT(path.size(), sizeof sa.sun_path);
    memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    ASSERT_EQ(bind(lsock.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ASSERT_EQ(listen(lsock.get(), 16), 0);
    bus_address_ = "unix:path=" + path;
    service("svc", {"session required MODULE timeout=2"});
    // Never accepted: the kernel completes connections into the backlog, so
    // the module connects and then hears nothing.
    PamRun r = pamtester("svc", "joseph", {"open_session"});
    std::cerr << "silent socket, timeout=2: pamtester took " << r.seconds << " s\n";
    EXPECT_FALSE(r.ok()) << r.all();
    EXPECT_GE(r.seconds, 1.9) << r.all();
    EXPECT_LT(r.seconds, 4.0) << r.all();
    EXPECT_TRUE(contains(r.err, "no answer from org.pershome1 within 2 s for user joseph"))
        << r.all();
}

TEST_F(PamTest, HungCloseIsBoundedAndTheFifoStillReleased) {
    start_bus();
    start_stub("hang-close");
    service("svc", {"session required MODULE tmphome=/tmphome/ timeout=2"});
    PamRun r = pamtester("svc", "joseph", {"open_session", "close_session"});
    EXPECT_FALSE(r.ok()) << r.all();
    EXPECT_LT(r.seconds, 4.0) << r.all();
    EXPECT_TRUE(contains(r.err,
                         "no answer from org.pershome1 within 2 s for user joseph "
                         "(CloseSession); closed the reference fifo instead"))
        << r.all();
    auto c = calls(3);
    ASSERT_EQ(c.size(), 3u) << r.all();
    EXPECT_EQ(c[1], "CloseSession user=joseph reference=ref-joseph-1");
    EXPECT_EQ(c[2], "FifoEOF reference=ref-joseph-1");
}

// --- a daemon that answers (stub) ---------------------------------------

TEST_F(PamTest, OpenAndCloseSendTheOptionsAndTheReference) {
    start_bus();
    start_stub("answer");
    service("login-test", {"session required MODULE tmphome=/tmphome/ skel=/etc/skel/ umask=0077"});
    PamRun r = pamtester("login-test", "joseph", {"open_session", "close_session"});
    EXPECT_TRUE(r.ok()) << r.all();
    EXPECT_TRUE(contains(r.out + r.err, "Welcome, joseph: your temporary home is ready."))
        << r.all();
    auto c = calls(3);
    ASSERT_EQ(c.size(), 3u) << r.all();
    // umask 0077 is 63; pamtester sets no PAM_TTY, so no tty option; the
    // login's timeout= (default 25) is always sent.
    EXPECT_EQ(c[0],
              "OpenSession user=joseph service=login-test skel=/etc/skel/ timeout=25 "
              "tmphome=/tmphome/ umask=63");
    EXPECT_EQ(c[1], "CloseSession user=joseph reference=ref-joseph-1");
    // Released only after CloseSession was answered.
    EXPECT_EQ(c[2], "FifoEOF reference=ref-joseph-1");
}

TEST_F(PamTest, OnlyGivenOptionsAreSent) {
    start_bus();
    start_stub("answer");
    service("svc", {"session required MODULE"});
    PamRun r = pamtester("svc", "joseph", {"open_session", "close_session"});
    EXPECT_TRUE(r.ok()) << r.all();
    auto c = calls(1);
    ASSERT_GE(c.size(), 1u);
    EXPECT_EQ(c[0], "OpenSession user=joseph service=svc timeout=25");
}

TEST_F(PamTest, TtyIsSentWhenTheApplicationSetsIt) {
    start_bus();
    start_stub("answer");
    service("login", {"session required MODULE umask=022"});
    PamRun r = app("login", "joseph", "/dev/tty3");
    EXPECT_TRUE(r.ok()) << r.all();
    auto c = calls(1);
    ASSERT_GE(c.size(), 1u);
    EXPECT_EQ(c[0], "OpenSession user=joseph service=login timeout=25 tty=/dev/tty3 umask=18");
}

TEST_F(PamTest, QuietKeepsTheMessageFromTheUser) {
    start_bus();
    start_stub("answer");
    service("svc", {"session required MODULE tmphome=/tmphome/ quiet"});
    PamRun r = pamtester("svc", "joseph", {"open_session", "close_session"});
    EXPECT_TRUE(r.ok()) << r.all();
    EXPECT_FALSE(contains(r.out + r.err, "Welcome")) << r.all();
}

TEST_F(PamTest, NotApplicableIsPamIgnore) {
    start_bus();
    start_stub("answer");
    // Alone in the stack, an ignoring module leaves Linux-PAM nothing to go
    // by: it answers PAM_PERM_DENIED, which tells PAM_IGNORE apart from
    // PAM_SUCCESS and PAM_SESSION_ERR.
    service("alone", {"session required MODULE tmphome=/tmphome/ debug"});
    PamRun r = pamtester("alone", "patron", {"open_session"});
    EXPECT_FALSE(r.ok()) << r.all();
    EXPECT_TRUE(contains(r.err, kAllIgnored)) << r.all();
    EXPECT_TRUE(contains(r.err, "pershome: nothing to do for user patron")) << r.all();
    // With another module that decides, the login goes on; close has no
    // reference and asks nothing of the daemon.
    service("stack", {"session required MODULE tmphome=/tmphome/", "session required PERMIT"});
    r = pamtester("stack", "patron", {"open_session", "close_session"});
    EXPECT_TRUE(r.ok()) << r.all();
    auto c = calls(2);
    ASSERT_EQ(c.size(), 2u);
    EXPECT_EQ(c[0], "OpenSession user=patron service=alone timeout=25 tmphome=/tmphome/");
    EXPECT_EQ(c[1], "OpenSession user=patron service=stack timeout=25 tmphome=/tmphome/");
}

TEST_F(PamTest, DaemonErrorReachesTheUserAndTheLog) {
    start_bus();
    start_stub("answer");
    service("svc", {"session required MODULE tmphome=/tmphome/"});
    PamRun r = pamtester("svc", "broken", {"open_session"});
    EXPECT_FALSE(r.ok()) << r.all();
    EXPECT_TRUE(contains(r.err, kSessionErr)) << r.all();
    EXPECT_TRUE(
        contains(r.out + r.err, "Your home directory could not be created: the disk is full."))
        << r.all();
    EXPECT_TRUE(contains(r.err,
                         "pershome: OpenSession for user broken failed: "
                         "org.pershome1.Error.Failed"))
        << r.all();
}

TEST_F(PamTest, DaemonGoneAtCloseStillReleasesTheFifo) {
    start_bus();
    start_stub("release-after-open");
    service("svc", {"session required MODULE tmphome=/tmphome/ timeout=5"});
    PamRun r = pamtester("svc", "joseph", {"open_session", "close_session"});
    EXPECT_FALSE(r.ok()) << r.all();  // close_session reports the failure
    EXPECT_TRUE(contains(r.out, "successfully opened a session")) << r.all();
    EXPECT_TRUE(contains(r.err,
                         "CloseSession for user joseph failed: "
                         "org.freedesktop.DBus.Error.ServiceUnknown"))
        << r.all();
    EXPECT_TRUE(contains(r.err, "closed the reference fifo instead")) << r.all();
    auto c = calls(3);
    ASSERT_EQ(c.size(), 3u) << r.all();
    EXPECT_EQ(c[1], "ReleasedName");
    EXPECT_EQ(c[2], "FifoEOF reference=ref-joseph-1");
}

TEST_F(PamTest, CloseWithoutOpenIsPamIgnore) {
    start_bus();
    start_stub("answer");
    service("svc", {"session required MODULE tmphome=/tmphome/"});
    PamRun r = pamtester("svc", "joseph", {"close_session"});
    EXPECT_FALSE(r.ok()) << r.all();
    EXPECT_TRUE(contains(r.err, kAllIgnored)) << r.all();
    EXPECT_TRUE(lines_of(read_file(record_)).empty());
}

// --- arguments -----------------------------------------------------------

TEST_F(PamTest, BadArgumentFailsClosedWithoutTouchingTheBus) {
    service("svc",
            {"session optional MODULE tmphome=/tmphome/ umask=0999", "session required PERMIT"});
    PamRun r = pamtester("svc", "joseph", {"open_session"});
    EXPECT_TRUE(r.ok()) << r.all();  // optional: the login goes on
    EXPECT_TRUE(contains(r.err, "pershome: argument umask=0999 is not an octal umask")) << r.all();
    EXPECT_FALSE(contains(r.err, "cannot reach the system bus")) << r.all();
    service("svc", {"session required MODULE tmphome=/tmphome/ umask=0999"});
    r = pamtester("svc", "joseph", {"open_session"});
    EXPECT_FALSE(r.ok()) << r.all();
    EXPECT_TRUE(contains(r.err, kSessionErr)) << r.all();
}

TEST_F(PamTest, UnknownArgumentsAreLoggedAndIgnored) {
    start_bus();
    start_stub("answer");
    // The seed's prefix test took "tmpho=" and "tmphomeX=" for "tmphome=".
    service("svc", {"session required MODULE tmphomeX=/evil tmpho=/evil"});
    PamRun r = pamtester("svc", "joseph", {"open_session", "close_session"});
    EXPECT_TRUE(r.ok()) << r.all();
    EXPECT_TRUE(contains(r.err, "pershome: unknown argument tmphomeX=/evil ignored")) << r.all();
    EXPECT_TRUE(contains(r.err, "pershome: unknown argument tmpho=/evil ignored")) << r.all();
    auto c = calls(1);
    ASSERT_GE(c.size(), 1u);
    EXPECT_EQ(c[0], "OpenSession user=joseph service=svc timeout=25");
}

// --- what the module leaves behind in the application's process ----------

TEST_F(PamTest, ProcessStateIsUntouchedAndTheFifoIsTheOnlyNewFd) {
    start_bus();
    start_stub("answer");
    service("svc", {"session required MODULE tmphome=/tmphome/"});
    PamRun r = app("svc", "joseph");
    EXPECT_TRUE(r.ok()) << r.all();
    EXPECT_TRUE(contains(r.out, "info: Welcome, joseph: your temporary home is ready.\n"))
        << r.all();
    // One new fd while the session is open (the fifo, close-on-exec); the
    // bus connection is gone; signals, threads and environments unchanged.
    EXPECT_TRUE(contains(r.out, "open rc=0 (Success) new_fds=1 gone_fds=0 all_cloexec=1 same=1\n"))
        << r.all();
    EXPECT_TRUE(contains(r.out, "close rc=0 (Success) new_fds=0 gone_fds=0 all_cloexec=1 same=1\n"))
        << r.all();
    auto c = calls(3);
    ASSERT_EQ(c.size(), 3u) << r.all();
    EXPECT_EQ(c[2], "FifoEOF reference=ref-joseph-1");
}

TEST_F(PamTest, ProcessStateIsUntouchedOnFailureAndTimeout) {
    service("svc", {"session required MODULE tmphome=/tmphome/ timeout=1"});
    PamRun r = app("svc", "joseph");  // no bus at all
    EXPECT_TRUE(contains(
        r.out, "open rc=14 (" + kSessionErr + ") new_fds=0 gone_fds=0 all_cloexec=1 same=1\n"))
        << r.all();
    EXPECT_TRUE(contains(r.out,
                         "error: The home directory service (pershomed) could not be "
                         "reached; your home directory may not be ready.\n"))
        << r.all();
    start_bus();
    start_stub("hang");
    r = app("svc", "joseph");
    EXPECT_TRUE(contains(
        r.out, "open rc=14 (" + kSessionErr + ") new_fds=0 gone_fds=0 all_cloexec=1 same=1\n"))
        << r.all();
    EXPECT_TRUE(contains(r.err, "no answer from org.pershome1 within 1 s")) << r.all();
}

}  // namespace
