# cmake -DIN=kernel.cu -DOUT=kernel.cpp -P rewrite_launches.cmake
# Rewrites each kernel<<<grid, block, shared, stream>>>(args); of a CUDA source into
# emulated_launch(stream, kernel, grid, block, args); so that a C++ compiler builds it against
# stand_in/cuda_runtime_api.h. Fails when a source has a launch this does not rewrite.
file(READ "${IN}" source)
string(REGEX REPLACE "([A-Za-z_0-9]+)<<<([^,]+), ([^,]+), ([^,]+), ([^>]+)>>>\\(([^)]*)\\);"
       "emulated_launch(\\5, \\1, \\2, \\3, \\6);" rewritten "${source}")
string(FIND "${rewritten}" "<<<" left)
if(NOT left EQUAL -1)
  message(FATAL_ERROR "${IN}: a kernel launch that rewrite_launches.cmake does not understand")
endif()
file(WRITE "${OUT}" "// Generated from ${IN} by rewrite_launches.cmake: do not edit.\n#line 1 \"${IN}\"\n${rewritten}")
