#include "tests/uml/uml_machine.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "tests/support/temp_dir.hpp"

namespace pershome::test::uml {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const char* const kModuleRoot = "/usr/lib/uml/modules";

// The guest's PATH (guest/boot.sh sets the same): where tools are looked for
// when the host's PATH is empty.
const char* const kGuestPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// PID 1's script after its SHARED= and MODULES= lines (guest/boot.sh).
const char* const kBootScript =
#include "guest/boot.sh.inc"
    ;

// Shell functions every guest script can use (guest/functions.sh).
const char* const kGuestFunctions =
#include "guest/functions.sh.inc"
    ;

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) {
        if (c == '\'') {
            q += "'\\''";
        } else {
            q += c;
        }
    }
    return q + "'";
}

std::string tail(const std::string& text, size_t lines) {
    size_t pos = text.size();
    if (pos > 0 && text[pos - 1] == '\n') --pos;
    for (size_t n = 0; n < lines && pos > 0; ++n) {
        size_t nl = text.rfind('\n', pos - 1);
        if (nl == std::string::npos) return text;
        pos = nl;
    }
    return pos == 0 ? text : text.substr(pos + 1);
}

std::string find_in_path(const std::string& name) {
    if (name.find('/') != std::string::npos) return name;
    const char* path = getenv("PATH");
    std::istringstream dirs(path && *path ? path : kGuestPath);
    for (std::string dir; std::getline(dirs, dir, ':');) {
        fs::path p = fs::path(dir.empty() ? "." : dir) / name;
        if (access(p.c_str(), X_OK) == 0) return p;
    }
    // Root's PATH may lack sbin (fsck.vfat lives there).
    for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
        fs::path p = fs::path(dir) / name;
        if (access(p.c_str(), X_OK) == 0) return p;
    }
    throw std::runtime_error("program not found: " + name);
}

void parse_checks(GuestResult& r) {
    std::istringstream in(r.out);
    std::string* detail = nullptr;
    for (std::string line; std::getline(in, line);) {
        bool ok = line.starts_with("@@ok ");
        bool bad = line.starts_with("@@fail ");
        if (ok || bad) {
            std::string rest = line.substr(ok ? 5 : 7);
            std::string name = rest.substr(0, rest.find_first_of(": "));
            auto [it, fresh] = r.checks.try_emplace(name);
            if (fresh) r.check_order.push_back(name);
            if (bad) {
                it->second.ok = false;
                if (!it->second.detail.empty()) it->second.detail += "\n";
                it->second.detail += rest;
                detail = &it->second.detail;
            } else {
                detail = nullptr;
            }
        } else if (line.starts_with("@@| ") && detail) {
            *detail += "\n  " + line.substr(4);
        } else {
            detail = nullptr;
        }
    }
}

}  // namespace

std::string kernel_version() {
    // The package installs exactly one module tree, named by the version.
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(kModuleRoot, ec)) {
        if (e.is_directory()) return e.path().filename();
    }
    return "";
}

std::string unavailable_reason() {
    if (access(kUmlKernel, X_OK) != 0) {
        return std::string(kUmlKernel) + " is missing (package user-mode-linux)";
    }
    if (kernel_version().empty()) {
        return std::string("no UML kernel modules under ") + kModuleRoot;
    }
    if (geteuid() != 0)
        return "UML tests need root (fusefat mounts on the host, the stick image is root's)";
    return "";
}

std::string GuestResult::describe() const {
    std::ostringstream s;
    switch (outcome) {
        case Outcome::Finished:
            s << "guest script finished with status " << exit_status;
            break;
        case Outcome::NoBoot:
            s << "UML did not boot (the guest script never started)";
            break;
        case Outcome::Timeout:
            s << "guest script still running after " << deadline.count() << " s; UML killed";
            break;
        case Outcome::Died:
            s << "UML exited while the guest script ran (panic or oops?)";
            break;
    }
    s << " [boot " << boot_time.count() << " ms, total " << total_time.count() << " ms]";
    if (!err.empty()) s << "\n--- guest stderr (tail) ---\n" << tail(err, 30);
    if (outcome != Outcome::Finished || exit_status != 0) {
        s << "\n--- guest stdout (tail) ---\n" << tail(out, 20);
        s << "\n--- UML console (tail) ---\n" << tail(console, 25);
    }
    return s.str();
}

testing::AssertionResult GuestResult::ok() const {
    if (finished() && exit_status == 0) return testing::AssertionSuccess();
    return testing::AssertionFailure() << describe();
}

testing::AssertionResult GuestResult::passed(const std::string& name) const {
    auto it = checks.find(name);
    if (it == checks.end()) {
        return testing::AssertionFailure() << "check " << name << " never ran\n" << describe();
    }
    if (!it->second.ok) {
        return testing::AssertionFailure() << "check failed: " << it->second.detail;
    }
    return testing::AssertionSuccess();
}

testing::AssertionResult GuestResult::failed(const std::string& name) const {
    auto it = checks.find(name);
    if (it == checks.end()) {
        return testing::AssertionFailure() << "check " << name << " never ran\n" << describe();
    }
    if (it->second.ok) return testing::AssertionFailure() << "check " << name << " passed";
    return testing::AssertionSuccess();
}

testing::AssertionResult GuestResult::passed_all(const std::string& prefix) const {
    std::ostringstream bad;
    int ran = 0;
    for (const auto& name : check_order) {
        if (!name.starts_with(prefix)) continue;
        ++ran;
        if (!checks.at(name).ok) bad << "\n" << checks.at(name).detail;
    }
    if (ran == 0) {
        return testing::AssertionFailure() << "no check named " << prefix << "* ran\n"
                                           << describe();
    }
    if (!bad.str().empty()) return testing::AssertionFailure() << "failed checks:" << bad.str();
    return testing::AssertionSuccess();
}

testing::AssertionResult GuestResult::all_passed() const {
    std::ostringstream bad;
    for (const auto& name : check_order) {
        const auto& c = checks.at(name);
        if (!c.ok) bad << "\n" << c.detail;
    }
    if (!finished()) return testing::AssertionFailure() << describe() << bad.str();
    if (!bad.str().empty()) return testing::AssertionFailure() << "failed checks:" << bad.str();
    return testing::AssertionSuccess();
}

UmlMachine::UmlMachine(std::filesystem::path dir, std::string name)
    : dir_(fs::absolute(std::move(dir))), name_(std::move(name)) {}

UmlMachine::~UmlMachine() {
    kill_group();
}

void UmlMachine::add_disk(const std::string& ubd, const std::filesystem::path& image) {
    disks_.emplace_back(ubd, fs::absolute(image));
}

void UmlMachine::kill_group() {
    // UML runs as several host processes (kernel, I/O thread, one per guest
    // address space); setsid made them one process group led by our child.
    // Killing the group while the leader is still unreaped cannot hit
    // anyone else's processes.
    if (uml_.running()) {
        ::kill(-uml_.pid(), SIGKILL);
        uml_.kill_and_reap();
    }
}

void UmlMachine::start(const std::string& script) {
    if (uml_.running()) throw std::logic_error("UML machine already started");
    exited_ = false;
    fs::remove_all(dir_ / "uml");
    fs::create_directories(dir_ / "uml");

    std::ostringstream init;
    init << "#!/bin/sh\n"
         << "# PID 1 of a test's UML guest; written by tests/uml/uml_machine.cpp.\n"
         << "SHARED=" << quote(dir_) << "\n";
    std::string modules;
    for (const auto& m : modules_) modules += (modules.empty() ? "" : " ") + m;
    init << "MODULES=" << quote(modules) << "\n"
         << (boot_script_.empty() ? kBootScript : boot_script_);
    write_file(guest_file("init"), init.str());
    fs::permissions(guest_file("init"), fs::perms::owner_all | fs::perms::group_read |
                                            fs::perms::group_exec | fs::perms::others_read |
                                            fs::perms::others_exec);
    std::string functions = kGuestFunctions;
    for (const auto& lib : libraries_) functions += "\n" + lib + "\n";
    write_file(guest_file("functions.sh"), functions);
    write_file(guest_file("script.sh"), script);

    std::vector<std::string> argv = {"/usr/bin/setsid",  // own process group: see kill_group
                                     kUmlKernel, "mem=" + std::to_string(memory_mb_) + "M",
                                     "umid=" + name_, "uml_dir=" + (dir_ / "uml").string() + "/"};
    for (const auto& [ubd, image] : disks_) argv.push_back(ubd + "=" + image.string());
    for (const char* a : {"root=/dev/root", "rootfstype=hostfs", "rootflags=/", "rw", "con=null",
                          "con0=fd:0,fd:1"}) {
        argv.emplace_back(a);
    }
    argv.push_back("init=" + guest_file("init").string());
    started_ = Clock::now();
    uml_.start(argv, clean_environment(), guest_file("console.log"));
    uml_.close_stdin();  // the console reads EOF, as with </dev/null
}

bool UmlMachine::wait_for_file(const std::string& name, Clock::time_point deadline) {
    while (Clock::now() < deadline) {
        if (fs::exists(dir_ / name)) return true;
        if (!uml_.running()) return fs::exists(dir_ / name);
        if (uml_.wait(Clock::now() + 50ms) != -1) {
            exited_ = true;
            return fs::exists(dir_ / name);
        }
    }
    return fs::exists(dir_ / name);
}

std::string UmlMachine::mconsole(const std::string& command) {
    std::vector<std::string> argv = {"uml_mconsole", (dir_ / "uml" / name_ / "mconsole").string()};
    std::istringstream words(command);
    for (std::string w; words >> w;) argv.push_back(w);
    ToolResult r = run_tool(argv, 30s);
    if (r.status < 0) throw std::runtime_error("uml_mconsole " + command + ": no answer");
    return r.text();
}

GuestResult UmlMachine::finish(std::chrono::seconds timeout) {
    GuestResult r;
    r.deadline = timeout;
    const auto deadline = started_ + timeout;
    const auto boot_deadline = started_ + boot_timeout_;
    const fs::path booted = guest_file("booted");
    bool saw_boot = false;
    auto elapsed = [&] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_);
    };
    while (uml_.running()) {
        if (!saw_boot && fs::exists(booted)) {
            saw_boot = true;
            r.boot_time = elapsed();
        }
        const auto now = Clock::now();
        if (now >= deadline || (!saw_boot && now >= boot_deadline)) break;
        if (uml_.wait(std::min({deadline, now + 50ms})) != -1) exited_ = true;
    }
    const bool exited = exited_;
    kill_group();
    r.total_time = elapsed();
    if (!saw_boot && fs::exists(booted)) saw_boot = true;

    r.console = read_file(guest_file("console.log"));
    r.out = read_file(guest_file("stdout"));
    r.err = read_file(guest_file("stderr"));
    std::string status = read_file(guest_file("status"));
    if (!status.empty()) {
        r.outcome = GuestResult::Outcome::Finished;
        r.exit_status = std::stoi(status);
    } else if (!fs::exists(guest_file("init"))) {
        // Seen once: the whole directory emptied from outside while UML ran.
        r.outcome = GuestResult::Outcome::Died;
        r.err = "the test's directory " + dir_.string() + " was emptied while UML ran\n" + r.err;
    } else if (!saw_boot) {
        r.outcome = GuestResult::Outcome::NoBoot;
        if (!exited) {
            r.err =
                "UML did not boot within " + std::to_string(boot_timeout_.count()) + " s\n" + r.err;
        }
    } else {
        r.outcome = exited ? GuestResult::Outcome::Died : GuestResult::Outcome::Timeout;
    }
    parse_checks(r);
    if (getenv("PERSHOME_UML_VERBOSE")) {
        std::cerr << "--- UML guest in " << dir_ << ": " << r.describe() << "\n--- stdout\n"
                  << r.out << "--- stderr\n"
                  << r.err << "---\n";
    }
    return r;
}

ToolResult run_tool(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
    std::vector<std::string> a = argv;
    a[0] = find_in_path(a[0]);
    std::vector<std::string> env = clean_environment();
    env.push_back("LC_ALL=C.UTF-8");
    env.push_back("MTOOLS_SKIP_CHECK=1");
    Child c;
    c.start(a, env);
    c.close_stdin();
    ToolResult r;
    const auto deadline = Clock::now() + timeout;
    int st = c.wait(deadline);
    c.read_until(std::min(deadline, Clock::now() + 1s));  // what is left in the pipes
    if (st != -1 && WIFEXITED(st)) r.status = WEXITSTATUS(st);
    if (st == -1)
        r.err += "\n[killed: still running after " + std::to_string(timeout.count()) + " s]";
    r.out = std::move(c.out_text);
    r.err = std::move(c.err_text) + r.err;
    return r;
}

void make_fat32_image(const std::filesystem::path& image, int mb,
                      const std::vector<std::string>& folders, const std::string& label) {
    {
        std::ofstream f(image, std::ios::binary | std::ios::trunc);
        if (!f) throw std::runtime_error("cannot create " + image.string());
    }
    fs::resize_file(image, static_cast<uintmax_t>(mb) << 20);
    ToolResult r = run_tool({"mkfs.vfat", "-F", "32", "-n", label, image.string()});
    if (r.status != 0) throw std::runtime_error("mkfs.vfat failed: " + r.text());
    for (const auto& dir : folders) {
        r = run_tool({"mmd", "-i", image.string(), "::/" + dir});
        if (r.status != 0) throw std::runtime_error("mmd " + dir + " failed: " + r.text());
    }
}

FsckResult fsck_vfat(const std::filesystem::path& image) {
    ToolResult t = run_tool({"fsck.vfat", "-n", image.string()});
    return classify_fsck(t.status, t.text());
}

FsckResult classify_fsck(int status, const std::string& output) {
    FsckResult r;
    r.status = status;
    r.output = output;
    r.clean = status == 0;
    r.no_damage = r.clean;
    if (status == 1) {
        // fsck's report lines that mean nothing but the dirty bit (byte 65
        // of the FAT32 boot sector differs from the backup's), and the
        // ones that mean what an unsynced create or write leaves on a
        // pull: lost clusters, and the long-name slots of a new entry whose
        // 8.3 entry lay in a sector not yet written (vfat writes a new
        // name's sectors separately; a later fsync of another file whose
        // entry shares the first sector writes it alone), and a file whose
        // fsync the pull cut short: vfat's fsync writes the file's entry,
        // then the FAT sectors of its new clusters (fat_file_fsync), so the
        // entry may point at a cluster still free, which fsck truncates.
        // Nothing synced is behind any of these (the pull tests read every
        // fsynced file back through the kernel's vfat, which fails on a
        // free cluster); anything else, e.g. clusters shared by two
        // entries, is damage.
        static const std::regex dirty(
            R"(^(fsck\.fat .*|There are differences between boot sector and its backup\.|)"
            R"(This is mostly harmless\. Differences: \(offset:original/backup\)|  65:01/00|)"
            R"(  Not automatically fixing this\.|Dirty bit is set\. Fs was not properly )"
            R"(unmounted and some data may be corrupt\.| Automatically removing dirty bit\.|)"
            R"(Leaving filesystem unchanged\.|.*: \d+ files, \d+/\d+ clusters|)$)");
        static const std::regex lost(
            R"(^(Reclaimed \d+ unused clusters? \(\d+ bytes\)\.|)"
            R"(Free cluster summary wrong \(\d+ vs\. really \d+\)|  Auto-correcting\.|)"
            R"(Orphaned long file name part ".*"|  Auto-deleting\.|)"
            R"(/.*|  Contains a free cluster \(\d+\)\. Assuming EOF\.|)"
            R"(  File size is \d+ bytes, cluster chain length is \d+ bytes\.|)"
            R"(  Truncating file to \d+ bytes\.)$)");
        bool only_dirty = r.output.find("Dirty bit is set") != std::string::npos;
        bool only_lost = only_dirty;
        std::istringstream in(r.output);
        for (std::string line; std::getline(in, line);) {
            if (std::regex_match(line, dirty)) continue;
            only_dirty = false;
            if (!std::regex_match(line, lost)) only_lost = false;
        }
        r.clean_but_dirty = only_dirty;
        r.no_damage = only_lost;
    }
    return r;
}

std::vector<std::string> mdir_names(const std::filesystem::path& image, const std::string& dir) {
    ToolResult r = run_tool({"mdir", "-b", "-i", image.string(), dir});
    if (r.status != 0) throw std::runtime_error("mdir " + dir + " failed: " + r.text());
    std::vector<std::string> names;
    std::istringstream in(r.out);
    const std::string prefix = dir + "/";
    for (std::string line; std::getline(in, line);) {
        if (!line.starts_with(prefix)) continue;
        // mdir -b marks directories with a trailing '/', which no name has.
        if (line.ends_with('/')) line.pop_back();
        names.push_back(line.substr(prefix.size()));
    }
    return names;
}

}  // namespace pershome::test::uml
