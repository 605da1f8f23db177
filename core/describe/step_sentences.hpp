#pragma once
// The sentences people read about repair steps, built from the steps and what they did. The
// workflow and the ladder find the facts; the words are here, once.

#include "core/model/config_model.hpp"

#include <string>

namespace certheal {

// One line for people, e.g. "stop_service IISADMIN with dependents".
std::string describe_step(const Step& step);

}  // namespace certheal
