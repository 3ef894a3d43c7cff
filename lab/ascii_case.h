// Case folding as the engine's searches and names use it: ASCII only, so a
// name in another script is compared byte for byte, never by the locale.
#pragma once

#include <string>

namespace she::lab {

std::string lower(std::string s);
std::string upper(std::string s);

}  // namespace she::lab
