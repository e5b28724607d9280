// A seam for tests: a function called right after each step that makes or looks up an entry by
// name, so a test can swap that entry the way a racing process of the user would, at the
// worst moment. Production never sets it; unset, it costs one relaxed load per step.
#pragma once

#include <atomic>

namespace pershome::homework {

enum class Step {
    kDirCreated,      // mkdirat of a skel directory or of the home itself
    kFileCreated,     // openat(O_CREAT | O_EXCL) of a skel file
    kSymlinkCreated,  // symlinkat of a skel symlink
    kOpenDenied,      // remove_tree: opening a directory by name failed with EACCES
};

/// `dirfd` and `name` say which entry the step was about.
using StepHook = void (*)(Step step, int dirfd, const char* name);

/// For tests only. Set it before the call under test and reset it afterwards.
inline std::atomic<StepHook> after_step{nullptr};

inline void run_step_hook(Step step, int dirfd, const char* name) {
    if (StepHook hook = after_step.load(std::memory_order_relaxed)) hook(step, dirfd, name);
}

}  // namespace pershome::homework
