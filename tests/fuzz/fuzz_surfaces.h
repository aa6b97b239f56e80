#pragma once
// The surfaces through which qvit reads files, one entry point each, shared by the libFuzzer
// targets (tests/fuzz/fuzz_target.cc, -DQVIT_FUZZ=ON) and the corpus-replay test in the ordinary
// suite (tests/unit/fuzz_corpus_replay_test.cc). An entry point feeds the bytes to the same code
// the CLI runs for that kind of file and returns normally on success or on qvit::Error (the one
// clear error line the CLI prints). Anything else — another exception (InternalError from a
// QVIT_CHECK included), a signal, a sanitizer report — escapes, and is a defect.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qvit::fuzz {

struct Surface {
  const char* name;         // also the corpus folder tests/golden/fuzz/<name>/ and the target qvit_fuzz_<name>
  const char* description;  // what the bytes are and what runs on them
  void (*run)(const uint8_t* data, size_t size);
};

// All surfaces, in a fixed order.
const std::vector<Surface>& surfaces();
// nullptr for an unknown name.
const Surface* find_surface(std::string_view name);

// Once per process, before the first input: quiet logging and the harness's resource caps (a
// 256 MiB tensor cap and a 4 MP image cap, below the CLI's defaults so that inputs which reach a
// cap do so quickly; the code paths are the same).
void init_harness();

// Folder of the models the surfaces start from (tests/golden/fuzz_models).
std::string fuzz_models_dir();

}  // namespace qvit::fuzz
