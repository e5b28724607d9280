// Loading a directory (load_dir: index, backing listing, reconcile) whose
// index file a hostile stick crafted: every shape at the largest size the
// reader takes on loads in time linear in its size, keeps a bounded number
// of findings, and one past the cap is refused in one line, the directory
// then shown from its listing.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "fs/dir_state.hpp"
#include "tests/fs/hostile_index.hpp"

namespace pershome::fs::test {
namespace {

class HostileLoad : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/pershome-hostile-test.XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        for (const auto& name : hostile_listing(kListing)) std::ofstream(dir_ + "/" + name) << "x";
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    // load_dir of the directory with `index` as its PERSHOME.IDX; seconds taken.
    double load(const std::string& index, DirState* out, std::vector<std::string>* problems) {
        {
            std::ofstream f(dir_ + "/PERSHOME.IDX", std::ios::binary | std::ios::trunc);
            f.write(index.data(), static_cast<std::streamsize>(index.size()));
        }
        const auto t0 = std::chrono::steady_clock::now();
        *out = load_dir(UniqueFd(open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)),
                        ReconcileOptions{}, problems);
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }

    static constexpr std::size_t kListing = 500;
    std::string dir_;
};

TEST_F(HostileLoad, EveryShapeAtTheCapLoadsInLinearTime) {
    for (const auto& c : hostile_shapes()) {
        DirState d;
        std::vector<std::string> problems;
        const double s = load(hostile_index(c.shape, kMaxIndexFileSize), &d, &problems);
        std::printf("hostile index, %s, %llu MiB: loaded in %.3f s\n", c.name,
                    static_cast<unsigned long long>(kMaxIndexFileSize >> 20), s);
        // About 0.5 s on these machines (busy); the quadratic reader took
        // 48 s for the slots at 8 MiB. The slack is for a loaded machine
        // and sanitizer builds.
        EXPECT_LT(s, 20.0) << c.name;
        EXPECT_LE(problems.size(), kMaxProblems + 1) << c.name;
        // Whatever the index claims, every backing file is there.
        EXPECT_GE(d.entries.size(), kListing) << c.name;
    }
}

TEST_F(HostileLoad, PastTheCapIsRefusedInOneLineAndTheListingShown) {
    for (const std::size_t size : {kMaxIndexFileSize + kSlotAlign, std::uint64_t{8} << 20}) {
        // The second: within the size cap, but a slot of more entries than
        // the reader takes on.
        std::string index = hostile_index(HostileShape::Entries, size);
        if (size < kMaxIndexFileSize) {
            IndexContent c;
            for (std::uint32_t i = 0; i <= kMaxIndexEntries; ++i) {
                Entry e;
                e.name = e.real = "e" + std::to_string(i);
                c.entries.push_back(e);
            }
            index = encode_slot(1, kSlotAlign, serialize_payload(c));
        }
        DirState d;
        std::vector<std::string> problems;
        load(index, &d, &problems);
        ASSERT_EQ(problems.size(), 1u) << size;
        EXPECT_NE(problems[0].find("past the cap"), std::string::npos) << problems[0];
        EXPECT_EQ(d.entries.size(), kListing);
        for (const auto& name : hostile_listing(kListing)) EXPECT_TRUE(d.find(name)) << name;
        EXPECT_TRUE(d.dirty);  // the next write replaces it
    }
}

}  // namespace
}  // namespace pershome::fs::test
