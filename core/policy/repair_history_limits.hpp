#pragma once
// How long the texts of the repair history may be: what a saved state may hold (read in
// repair_policy_saved_state.cpp) and what an operator's pause records (repair_policy_pause.cpp).
// Internal to the repair policy's files.

#include <cstddef>
#include <string>

namespace certheal::repair_history {

// Incident ids certheal writes are ~30 characters, user and site names short; a saved one
// longer than this is cut. A pause's reason gets more room.
inline constexpr std::size_t kMaxNameLength = 200;
inline constexpr std::size_t kMaxReasonLength = 500;

inline std::string bounded_text(std::string text, std::size_t limit = kMaxNameLength) {
    if (text.size() > limit) text.resize(limit);
    return text;
}

}  // namespace certheal::repair_history
