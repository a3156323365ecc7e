// Representative control messages per draft: every message kind (and every -14 reply variant)
// the draft defines, with the fields that draft can carry. Used by the round-trip tests and to
// seed the fuzz corpus.
#pragma once

#include <vector>

#include "moqt/wire/messages.h"

namespace moqt::wire::test {

std::vector<ControlMessage> sample_messages(Draft d);

}  // namespace moqt::wire::test
