#include "search/storage.h"

#include "search/worker_id.h"

namespace gpu_tune::search {

Storage::Storage() : worker_id_(make_worker_id()) {}

}  // namespace gpu_tune::search
