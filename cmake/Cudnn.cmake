# Finds cuDNN for the alternate convolution path (kernels/conv2d_cudnn.h, `--conv cudnn`):
# its header and libcudnn beside the CUDA toolkit (where NVIDIA's tarball and packages put
# them), in the system folders, or under CUDNN_ROOT. cuDNN is optional: without it the
# build goes on and a CUDA backend asked for --conv cudnn refuses, saying so.
option(GPU_TUNE_CUDNN "Build the cuDNN convolution path when cuDNN is found" ON)
set(GPU_TUNE_HAVE_CUDNN OFF)
if(GPU_TUNE_HAVE_CUDA AND GPU_TUNE_CUDNN)
  find_path(GPU_TUNE_CUDNN_INCLUDE_DIR cudnn.h
    HINTS ${CUDNN_ROOT} $ENV{CUDNN_ROOT} ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES include)
  find_library(GPU_TUNE_CUDNN_LIBRARY cudnn
    HINTS ${CUDNN_ROOT} $ENV{CUDNN_ROOT} ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_ROOT}
    PATH_SUFFIXES lib64 lib)
  if(GPU_TUNE_CUDNN_INCLUDE_DIR AND GPU_TUNE_CUDNN_LIBRARY)
    set(GPU_TUNE_HAVE_CUDNN ON)
    add_library(gpu_tune_cudnn INTERFACE)
    target_link_libraries(gpu_tune_cudnn INTERFACE ${GPU_TUNE_CUDNN_LIBRARY})
    target_include_directories(gpu_tune_cudnn SYSTEM INTERFACE ${GPU_TUNE_CUDNN_INCLUDE_DIR})
    message(STATUS "gpu_tune: cuDNN found (${GPU_TUNE_CUDNN_LIBRARY}); --conv cudnn is available")
  else()
    message(STATUS "gpu_tune: cuDNN not found (set CUDNN_ROOT); --conv cudnn is unavailable")
  endif()
elseif(GPU_TUNE_HAVE_CUDA)
  message(STATUS "gpu_tune: cuDNN not used (GPU_TUNE_CUDNN=OFF); --conv cudnn is unavailable")
endif()
