#include "ctl/check_command.hpp"

#include <fmt/core.h>

#include <filesystem>
#include <sstream>
#include <utility>

#include "ctl/mounts.hpp"
#include "ctl/run_program.hpp"
#include "ctl/table.hpp"

namespace pershome::ctl {
namespace {

namespace fs = std::filesystem;

// pershome-fs --check's statuses (pershome-fs(1), EXIT STATUS).
constexpr int kFsClean = 0, kFsCatchUp = 1, kFsDamage = 2;

// The start of each finding pershome-fs prints (fs/dir_state.cpp,
// fs/check.cpp), and what it means to someone who looks after sticks.
const std::pair<const char*, const char*> kMeanings[] = {
    {"no index slot verifies", "the folder's metadata file is damaged in both copies"},
    {"index file of", "the folder's metadata file is too large to read and is ignored"},
    {"index of more than", "the folder's metadata file has too many entries and is ignored"},
    {"cannot list directory", "the folder cannot be read"},
    {"new backing file added", "a file was added by another computer"},
    {"entry without backing file dropped", "a file was removed by another computer"},
    {"entry type fixed from the backing", "a file was replaced by another computer"},
    {"entry found under its 8.3 alias", "a file was renamed to its short DOS name elsewhere"},
    {"hard link without its file dropped", "a hard link lost its file (a pulled stick)"},
    {"backing file shadowed", "a file is hidden behind another file's name"},
    {"leftover of a move", "a hard-link move was interrupted (a pulled stick)"},
    {"hard-linked file with no name left", "a hard-linked file has no name left"},
    {"link count of", "a hard link count is off (an interrupted link)"},
    {"index out of date", "times were changed by another computer"},
    {"index rewritten", "repaired: the metadata file was rewritten"},
    {"moved ", "repaired: an unnamed hard-linked file was moved to the top folder"},
    {"repair failed", "the repair failed"},
};

// The stick's home folder: PATH itself, or PATH/pershome at a stick's top.
fs::path home_folder(const fs::path& path) {
    std::error_code ec;
    if (fs::is_directory(path / "pershome", ec)) return path / "pershome";
    return path;
}

std::string verdict(int fs_status, int findings, bool repair) {
    const std::string n = fmt::format("{} finding{}", findings, findings == 1 ? "" : "s");
    switch (fs_status) {
        case kFsClean:
            return "In order: every folder's metadata matches its files.";
        case kFsCatchUp:
            return repair ? fmt::format("Only catch-up ({}), now written down.", n)
                          : fmt::format(
                                "Only catch-up ({}): what a pulled stick or another computer's "
                                "edits leave behind. Safe to use: the next login settles it by "
                                "itself; `pershomectl check --repair` writes it down now.",
                                n);
        default:
            return repair ? fmt::format(
                                "Damage ({}), now repaired: the metadata was rebuilt from the "
                                "files; names FAT cannot hold, modes and times in the folders "
                                "above may have been lost.",
                                n)
                          : fmt::format(
                                "Damage ({}): something no crash of pershome leaves. The home "
                                "still opens (damaged metadata is rebuilt from the files), but "
                                "names FAT cannot hold, modes and times in the folders above may "
                                "be lost. Copy the stick's files somewhere safe before --repair.",
                                n);
    }
}

}  // namespace

std::string explain_finding(const std::string& line) {
    const auto colon = line.find(": ");
    if (colon == std::string::npos) return terminal_text(line);
    const std::string what = line.substr(colon + 2);
    for (const auto& [start, meaning] : kMeanings) {
        if (what.rfind(start, 0) == 0)
            return terminal_text(line.substr(0, colon) + ": " + meaning + " (" + what + ")");
    }
    return terminal_text(line);
}

Result<int> check_command(const std::string& path, bool repair) {
    std::error_code ec;
    const fs::path folder = fs::canonical(home_folder(path), ec);
    if (ec) return fail(fmt::format("check {}: {}", path, ec.message()));
    if (!fs::is_directory(folder)) return fail(fmt::format("check {}: not a folder", path));
    if (auto m = mount_of(folder); m && m->fs_type == "fuse.pershome-fs") {
        return fail(fmt::format(
            "check {}: this is a home in use (mounted by pershome-fs); check the stick's "
            "pershome folder after the user has logged out",
            path));
    }
    const std::string fs_program = find_companion("pershome-fs");
    if (fs_program.empty()) return fail("check: pershome-fs is not installed (not on PATH)");
    std::vector<std::string> argv = {fs_program, "--check"};
    if (repair) argv.push_back("--repair");
    argv.push_back(folder);
    auto ran = run_program(argv);
    if (!ran) return tl::unexpected(ran.error());
    const int st = ran->exit_status;
    if (st != kFsClean && st != kFsCatchUp && st != kFsDamage) {
        return fail(
            fmt::format("check {}: could not check: {}", folder.string(), terminal_text(ran->out)));
    }
    fmt::print("Checked {}{}.\n", terminal_text(folder.string()), repair ? " and repaired it" : "");
    std::istringstream lines(ran->out);
    int findings = 0;
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("pershome-fs --check:", 0) == 0) continue;  // the summary: ours below
        const std::string plain = explain_finding(line);
        fmt::print("  {}\n", plain);
        if (plain.find(": repaired: ") == std::string::npos) ++findings;
    }
    fmt::print("{}\n", verdict(st, findings, repair));
    return st == kFsClean ? kExitOk : st == kFsCatchUp ? kExitCatchUp : kExitDamage;
}

}  // namespace pershome::ctl
