# Every dependency comes from the system (Debian packages); nothing is downloaded at build time.
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(ZLIB REQUIRED)

# A CBLAS: OpenBLAS by default; FindBLAS lets MKL or BLIS stand in (set BLA_VENDOR).
if(NOT DEFINED BLA_VENDOR)
  set(BLA_VENDOR OpenBLAS)
endif()
find_package(BLAS REQUIRED)
find_path(GPU_TUNE_CBLAS_INCLUDE_DIR cblas.h
  PATH_SUFFIXES openblas openblas-pthread openblas-openmp x86_64-linux-gnu/openblas-pthread
  REQUIRED)
add_library(gpu_tune_cblas INTERFACE)
target_link_libraries(gpu_tune_cblas INTERFACE BLAS::BLAS)
target_include_directories(gpu_tune_cblas SYSTEM INTERFACE ${GPU_TUNE_CBLAS_INCLUDE_DIR})

find_package(CLI11 CONFIG REQUIRED)
find_package(nlohmann_json 3 CONFIG REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(yaml-cpp CONFIG REQUIRED)
# libpq (Debian's libpq-dev), for studies kept in PostgreSQL. OFF builds without it, for a
# machine that has none of Debian's -dev packages (scripts/device-check.sh on a GPU
# machine); `--storage postgresql://...` then says so.
option(GPU_TUNE_POSTGRES "PostgreSQL storage through libpq" ON)
if(GPU_TUNE_POSTGRES)
  find_package(PostgreSQL REQUIRED)
endif()
