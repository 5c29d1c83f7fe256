// Feeds decode_model a saved model's bytes, as read_model_file reads them from disk. Only
// ModelFileError is an expected outcome. A model that decodes must pass its own check, and
// what encode_model writes for it must decode too.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/model_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const gpu_tune::SavedModel model = gpu_tune::decode_model(bytes, "fuzz input");
    model.check();
    (void)model.model();
    try {
      (void)gpu_tune::decode_model(gpu_tune::encode_model(model), "re-encoded fuzz input");
    } catch (const gpu_tune::ModelFileError&) {
      __builtin_trap();
    }
  } catch (const gpu_tune::ModelFileError&) {
  }
  return 0;
}
