// libFuzzer target: control message decoding for every draft.
// Input: [draft selector][split seed][bytes of a control stream...].
// Oracles: no crash/UB/leak (sanitizers); the same bytes give the same result for any split;
// every decoded message re-encodes, and decoding that encoding re-encodes to the same bytes.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "moqt/wire/control_codec.h"

using namespace moqt::wire;

namespace {

struct Outcome {
  std::vector<ControlMessage> messages;
  std::optional<WireError> error;
};

Outcome parse(ByteView in, Draft d, uint8_t seed) {
  Outcome out;
  ControlStreamParser parser(d);
  size_t pos = 0;
  uint32_t x = seed | 1u;
  while (pos < in.size() && !out.error) {
    size_t n = seed == 0 ? in.size() : 1 + (x % 13);
    x = x * 1103515245u + 12345u;
    n = std::min(n, in.size() - pos);
    parser.push(in.subspan(pos, n));
    pos += n;
    while (auto m = parser.next()) {
      if (!*m) {
        out.error = m->error();
        break;
      }
      out.messages.push_back(std::move(m->value()));
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const Draft d = kAllDrafts[data[0] % std::size(kAllDrafts)];
  const uint8_t seed = data[1];
  ByteView in(data + 2, size - 2);

  Outcome whole = parse(in, d, 0);
  Outcome split = parse(in, d, seed);
  if (whole.messages != split.messages || whole.error.has_value() != split.error.has_value()) abort();
  if (whole.error && whole.error->code == SessionError::kNoError) abort();

  for (const ControlMessage& m : whole.messages) {
    Result<Bytes> once = encode_control(m, d);
    if (!once) abort();  // whatever decodes must be encodable
    ControlDecode again = decode_control(*once, d);
    auto* dm = std::get_if<DecodedMessage>(&again);
    if (!dm || dm->consumed != once->size()) abort();
    Result<Bytes> twice = encode_control(dm->message, d);
    if (!twice || *twice != *once) abort();
    (void)to_string(m);
  }
  return 0;
}
