#include "apps/output_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace gpu_tune::app {

void write_output(std::ostream& out, const std::string& text, const std::string& name) {
  // errno is read right after the write that failed: nothing in between sets it.
  errno = 0;
  out << text;
  out.flush();
  const int error = errno;
  if (out) return;
  throw std::runtime_error("cannot write " + name + ": " + (error ? std::strerror(error) : "the write failed"));
}

void write_output_file(const std::string& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot create " + path + ": " + std::strerror(errno));
  write_output(file, text, path);
  file.close();  // flushed already; closing reports an error a network file system kept till now
  if (!file) throw std::runtime_error("cannot write " + path + ": closing it failed");
}

}  // namespace gpu_tune::app
