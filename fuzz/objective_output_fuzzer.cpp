// Feeds parse_objective_output_line one line of an objective command's standard output
// ("gpu_tune:step=N value=V", or a number). It never throws: a line it cannot read is chatter.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "search/command_objective.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const gpu_tune::search::ObjectiveOutputLine said = gpu_tune::search::parse_objective_output_line(line);
  // A line is a step report or a number, never both.
  if (said.step && said.number) __builtin_trap();
  return 0;
}
