#pragma once
// Output that is checked: a command that cannot write what it was asked for (a full disk,
// /dev/full, a closed pipe) fails with the reason instead of exiting 0 with nothing written.
#include <ostream>
#include <string>

namespace gpu_tune::app {

// Writes `text` to `out` and flushes it; throws std::runtime_error naming `name` ("standard
// output" or the file) and the system's reason when the write fails (a full disk, /dev/full,
// a closed pipe).
void write_output(std::ostream& out, const std::string& text, const std::string& name);
// `text` as the whole of file `path`, which is created or truncated; throws as above.
void write_output_file(const std::string& path, const std::string& text);

}  // namespace gpu_tune::app
