#include "engine/model_file.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

namespace gpu_tune {

namespace {

// PNG's trick: a byte above 127 catches 7-bit transfers, CR LF and the lone LF catch
// line-ending conversion, and 0x1a stops a DOS `type`.
constexpr char kMagic[8] = {'\x89', 'G', 'T', 'M', '\r', '\n', '\x1a', '\n'};
constexpr size_t kMagicBytes = sizeof(kMagic);
constexpr size_t kFixedBytes = kMagicBytes + 4 + 8 + 4;  // magic, version, file length, header length
constexpr size_t kChecksumBytes = 4;

uint32_t crc32_of(std::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes lengths as uInt: feed a large file in pieces.
  constexpr size_t kPiece = size_t(1) << 30;
  for (size_t at = 0; at < bytes.size(); at += kPiece) {
    const size_t n = std::min(kPiece, bytes.size() - at);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + at), static_cast<uInt>(n));
  }
  return static_cast<uint32_t>(crc);
}

std::string hex(uint32_t value) {
  std::ostringstream text;
  text << "0x" << std::hex << value;
  return text.str();
}

// Little-endian whatever the host's order, so a file reads the same everywhere.
class ByteWriter {
 public:
  void u8(uint8_t v) { bytes_.push_back(static_cast<char>(v)); }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) u8(static_cast<uint8_t>(v >> (8 * i)));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) u8(static_cast<uint8_t>(v >> (8 * i)));
  }
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  void f32(float v) { u32(std::bit_cast<uint32_t>(v)); }
  void f64(double v) { u64(std::bit_cast<uint64_t>(v)); }
  void text(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    bytes_.append(s);
  }
  void raw(std::string_view s) { bytes_.append(s); }
  std::string& bytes() { return bytes_; }

 private:
  std::string bytes_;
};

// Reads what ByteWriter wrote from a range already known to be whole (the length and the
// checksum were checked), so running out means the writer wrote something else: `fail`
// says so with the byte where it happened.
class ByteReader {
 public:
  ByteReader(std::string_view bytes, size_t offset, const std::string& source)
      : bytes_(bytes), at_(offset), source_(source) {}

  [[noreturn]] void fail(const std::string& problem) const {
    throw ModelFileError(source_ + ": malformed model header at byte " + std::to_string(at_) + ": " + problem);
  }
  uint8_t u8() { return static_cast<uint8_t>(take(1, "a byte")[0]); }
  uint32_t u32() {
    const std::string_view b = take(4, "a 4-byte integer");
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[i]);
    return v;
  }
  uint64_t u64() {
    const std::string_view b = take(8, "an 8-byte integer");
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[i]);
    return v;
  }
  int64_t i64() { return static_cast<int64_t>(u64()); }
  float f32() { return std::bit_cast<float>(u32()); }
  double f64() { return std::bit_cast<double>(u64()); }
  std::string text(const char* what) {
    const uint32_t size = u32();
    return std::string(take(size, what));
  }
  int positive(const char* what) {
    const uint32_t v = u32();
    if (v < 1 || v > static_cast<uint32_t>(std::numeric_limits<int>::max()))
      fail(std::string(what) + " " + std::to_string(v) + " is not a positive int");
    return static_cast<int>(v);
  }
  size_t offset() const { return at_; }

 private:
  std::string_view take(size_t n, const std::string& what) {
    if (n > bytes_.size() - at_) fail("it ends inside " + what);
    const std::string_view part = bytes_.substr(at_, n);
    at_ += n;
    return part;
  }
  std::string_view bytes_;
  size_t at_;
  const std::string& source_;
};

// The fields between the fixed part and the parameters, in the order docs/model-format.md
// lists them; the parameter count is the last, so a reader of the header knows how many
// follow.
std::string encode_header(const SavedModel& m) {
  ByteWriter w;
  w.text(m.architecture);
  w.u32(static_cast<uint32_t>(m.input.height));
  w.u32(static_cast<uint32_t>(m.input.width));
  w.u32(static_cast<uint32_t>(m.input.channels));
  w.u32(static_cast<uint32_t>(m.classes));
  w.text(kernels::activation_name(m.activation));
  w.f32(m.normalization.scale);
  w.f32(m.normalization.shift);
  w.u8(m.standardized ? 1 : 0);
  w.text(m.precision);
  w.text(m.origin.study);
  w.i64(m.origin.trial);
  w.text(m.origin.dataset);
  w.text(m.origin.device);
  w.text(m.origin.metric);
  w.f64(m.origin.value);
  w.u32(static_cast<uint32_t>(m.origin.best_epoch));
  w.f64(m.origin.test_accuracy);
  w.f64(m.origin.test_loss);
  w.i64(m.origin.test_count);
  w.text(m.origin.description);
  w.u64(m.parameters.size());
  return std::move(w.bytes());
}

// Reads the header fields into `m`; returns the parameter count that follows them.
uint64_t decode_header(ByteReader& r, SavedModel& m) {
  m.architecture = r.text("the architecture");
  m.input.height = r.positive("input height");
  m.input.width = r.positive("input width");
  m.input.channels = r.positive("input channels");
  m.classes = r.positive("classes");
  const std::string activation = r.text("the activation");
  const std::optional<kernels::Activation> parsed = kernels::parse_activation(activation);
  if (!parsed) r.fail("unknown activation '" + activation + "'");
  m.activation = *parsed;
  m.normalization.scale = r.f32();
  m.normalization.shift = r.f32();
  m.standardized = r.u8() != 0;
  m.precision = r.text("the precision");
  m.origin.study = r.text("the study name");
  m.origin.trial = r.i64();
  m.origin.dataset = r.text("the dataset name");
  m.origin.device = r.text("the device");
  m.origin.metric = r.text("the metric");
  m.origin.value = r.f64();
  m.origin.best_epoch = static_cast<int>(r.u32());
  m.origin.test_accuracy = r.f64();
  m.origin.test_loss = r.f64();
  m.origin.test_count = r.i64();
  m.origin.description = r.text("the description");
  return r.u64();
}

struct FixedPart {
  uint64_t file_length = 0;
  uint32_t header_length = 0;
};

// Magic, version, the file's length and the header's, checked against the `available`
// bytes (all of the file, or its start when only the header is read): the problems that
// make everything after them meaningless, each reported as such.
FixedPart check_fixed_part(std::string_view available, uint64_t file_size, const std::string& source) {
  auto truncated = [&](const std::string& inside) {
    throw ModelFileError(source + ": truncated at byte " + std::to_string(file_size) + " (the file ends inside " + inside +
                         ")");
  };
  const size_t magic_seen = std::min(available.size(), kMagicBytes);
  if (std::memcmp(available.data(), kMagic, magic_seen) != 0)
    throw ModelFileError(source + ": not a gpu_tune model (bad magic: it does not start with the bytes 89 47 54 4d 0d 0a 1a 0a)");
  if (available.size() < kMagicBytes) truncated("the magic");
  if (available.size() < kMagicBytes + 4) truncated("the format version");
  ByteReader r(available, kMagicBytes, source);
  const uint32_t version = r.u32();
  if (version != SavedModel::kVersion)
    throw ModelFileError(source + ": unsupported model format version " + std::to_string(version) + " (this gpu_tune reads version " +
                         std::to_string(SavedModel::kVersion) + ")");
  if (available.size() < kMagicBytes + 12) truncated("the file length");
  FixedPart fixed;
  fixed.file_length = r.u64();
  if (file_size < fixed.file_length)
    throw ModelFileError(source + ": truncated at byte " + std::to_string(file_size) + " (the file says it has " +
                         std::to_string(fixed.file_length) + " bytes)");
  if (file_size > fixed.file_length)
    throw ModelFileError(source + ": " + std::to_string(file_size - fixed.file_length) +
                         " unexpected bytes after the end of the model (the file says it has " +
                         std::to_string(fixed.file_length) + " bytes)");
  if (fixed.file_length < kFixedBytes + kChecksumBytes)
    throw ModelFileError(source + ": the file length it records, " + std::to_string(fixed.file_length) +
                         " bytes, is too short for a model");
  if (available.size() < kFixedBytes) truncated("the header length");
  fixed.header_length = r.u32();
  if (fixed.header_length > fixed.file_length - kFixedBytes - kChecksumBytes)
    throw ModelFileError(source + ": the header length it records, " + std::to_string(fixed.header_length) +
                         " bytes, does not fit in the file's " + std::to_string(fixed.file_length));
  return fixed;
}

void check_model(const SavedModel& model, const std::string& source) {
  try {
    model.check();
  } catch (const std::invalid_argument& e) {
    throw ModelFileError(source + ": " + e.what());
  }
}

std::string read_whole_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ModelFileError(path.string() + ": cannot open the model file: " + std::strerror(errno));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) throw ModelFileError(path.string() + ": cannot read the model file: " + std::strerror(errno));
  return std::move(bytes).str();
}

// Writes all of `bytes` to `fd`, or throws naming `path`.
void write_all(int fd, std::string_view bytes, const std::filesystem::path& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ModelFileError(path.string() + ": cannot write: " + std::strerror(errno));
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

ModelSpec SavedModel::model() const {
  ModelSpec spec;
  try {
    spec = parse_model(architecture, input, classes);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("architecture '" + architecture + "' (input " + input.describe() + ", " +
                                std::to_string(classes) + " classes) is invalid: " + e.what());
  }
  spec.activation = activation;
  return spec;
}

void SavedModel::check() const {
  const ModelSpec spec = model();
  if (static_cast<int64_t>(parameters.size()) != spec.storage_size())
    throw std::invalid_argument("parameter count " + std::to_string(parameters.size()) + " does not match the architecture " +
                                spec.describe() + ", which has " + std::to_string(spec.storage_size()));
  if (!kernels::parse_precision(precision))
    throw std::invalid_argument("precision '" + precision + "' is not one of fp32, tf32");
  if (!std::isfinite(normalization.scale) || !std::isfinite(normalization.shift))
    throw std::invalid_argument("input normalization (scale " + std::to_string(normalization.scale) + ", shift " +
                                std::to_string(normalization.shift) + ") is not finite");
}

std::string architecture_text(const ModelSpec& model) {
  std::string text;
  for (int l = 0; l + 1 < model.layer_count(); ++l) text += (text.empty() ? "" : "-") + model.layer(l).describe();
  // A saved model is only as good as this text: make sure it reads back as the same layers.
  const ModelSpec read_back = parse_model(text, model.input, model.outputs());
  if (read_back.layers != model.layers)
    throw std::logic_error("the architecture text '" + text + "' does not read back as the model " + model.describe());
  return text;
}

SavedModel saved_model_from(const TrainingConfig& config, std::vector<float> parameters, InputNormalization normalization,
                            bool standardized, ModelOrigin origin) {
  SavedModel m;
  m.architecture = architecture_text(config.model);
  m.input = config.model.input;
  m.classes = config.model.outputs();
  m.activation = config.model.activation;
  m.normalization = normalization;
  m.standardized = standardized;
  m.parameters = std::move(parameters);
  m.origin = std::move(origin);
  return m;
}

std::string encode_model(const SavedModel& model) {
  const std::string header = encode_header(model);
  const uint64_t length = kFixedBytes + header.size() + model.parameters.size() * sizeof(float) + kChecksumBytes;
  ByteWriter w;
  w.raw(std::string_view(kMagic, kMagicBytes));
  w.u32(SavedModel::kVersion);
  w.u64(length);
  w.u32(static_cast<uint32_t>(header.size()));
  w.raw(header);
  w.bytes().reserve(length);
  for (float p : model.parameters) w.f32(p);
  w.u32(crc32_of(w.bytes()));
  return std::move(w.bytes());
}

SavedModel decode_model(std::string_view bytes, const std::string& source) {
  const FixedPart fixed = check_fixed_part(bytes, bytes.size(), source);
  const size_t body = bytes.size() - kChecksumBytes;
  ByteReader checksum_reader(bytes, body, source);
  const uint32_t stored = checksum_reader.u32();
  const uint32_t computed = crc32_of(bytes.substr(0, body));
  if (stored != computed)
    throw ModelFileError(source + ": checksum mismatch (the file records " + hex(stored) + ", its contents give " +
                         hex(computed) + "): the file is corrupt");

  SavedModel m;
  ByteReader r(bytes.substr(0, kFixedBytes + fixed.header_length), kFixedBytes, source);
  const uint64_t count = decode_header(r, m);
  if (r.offset() != kFixedBytes + fixed.header_length)
    r.fail(std::to_string(kFixedBytes + fixed.header_length - r.offset()) + " bytes left over after its fields");
  const uint64_t parameter_bytes = body - r.offset();
  if (parameter_bytes != count * sizeof(float))
    throw ModelFileError(source + ": the header announces " + std::to_string(count) + " parameters but " +
                         std::to_string(parameter_bytes) + " bytes follow it");
  ByteReader p(bytes.substr(0, body), r.offset(), source);
  m.parameters.resize(count);
  for (float& value : m.parameters) value = p.f32();
  check_model(m, source);
  return m;
}

void write_model_file(const std::filesystem::path& path, const SavedModel& model) {
  check_model(model, path.string());
  const std::string bytes = encode_model(model);
  // A reader, or a crash, never sees a half-written model under the real name.
  std::filesystem::path partial = path;
  partial += ".partial";
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw ModelFileError(partial.string() + ": cannot create: " + std::strerror(errno));
  try {
    write_all(fd, bytes, partial);
    if (::fsync(fd) != 0) throw ModelFileError(partial.string() + ": cannot sync: " + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(partial.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    const int error = errno;
    ::unlink(partial.c_str());
    throw ModelFileError(partial.string() + ": cannot close: " + std::strerror(error));
  }
  if (::rename(partial.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(partial.c_str());
    throw ModelFileError(path.string() + ": cannot rename " + partial.filename().string() + " to it: " + std::strerror(error));
  }
  // The rename is durable once the folder's entry is: sync the folder too (best effort;
  // the model itself is already on disk).
  const std::filesystem::path folder = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  if (const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

SavedModel read_model_file(const std::filesystem::path& path) { return decode_model(read_whole_file(path), path.string()); }

SavedModel read_model_header(const std::filesystem::path& path) {
  const std::string source = path.string();
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw ModelFileError(source + ": cannot open the model file: " + std::strerror(errno));
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  auto read_up_to = [&](size_t n) {
    std::string bytes(std::min<uint64_t>(n, file_size), '\0');
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!in) throw ModelFileError(source + ": cannot read the model file: " + std::strerror(errno));
    return bytes;
  };
  std::string start = read_up_to(kFixedBytes);
  const FixedPart fixed = check_fixed_part(start, file_size, source);
  start += read_up_to(fixed.header_length);
  SavedModel m;
  ByteReader r(start, kFixedBytes, source);
  decode_header(r, m);
  return m;
}

}  // namespace gpu_tune
